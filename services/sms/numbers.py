"""Mainland mobile numbers as providers write them, reduced to the 11 digits we key on."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"(?:\+?86|0086)?(1[3-9]\d{9})")


def national_mobile(raw: object) -> str | None:
    """The 11-digit mainland mobile in ``raw`` ("+86 138-0013-8000", "8613800138000",
    "13800138000"); None for anything else."""
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        return None
    found = _MOBILE.fullmatch(re.sub(r"[\s-]", "", str(raw)))
    return found.group(1) if found else None
