"""Moved to :mod:`services.masking` (shared by every service); kept for old imports."""

from services.masking import mask_email, mask_mobile, redact

__all__ = ["mask_email", "mask_mobile", "redact"]
