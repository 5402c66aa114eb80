"""Logging for the services: one line per record, personal data and secrets masked."""

from __future__ import annotations

import logging
import os
import re
import sys

from services.notifier.channels.masking import redact

# Robot webhook URLs carry the robot's key in their query string.
_SECRET_NAMES = re.compile(r"(SECRET|PASSWORD|TOKEN|KEY|WEBHOOK_URL)", re.IGNORECASE)
# Values shorter than this are too likely to occur in ordinary text to be masked by value.
_MIN_SECRET_LEN = 6


class MaskingFilter(logging.Filter):
    """Masks mobiles, emails and the values of secret environment variables in every record."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True
        )

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for secret in self.secrets:
            text = text.replace(secret, "******")
        record.msg = redact(text, limit=4000)
        record.args = None
        return True


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    """Values of DUBAN_* variables whose names say they are secrets."""
    source = os.environ if env is None else env
    return [v for k, v in source.items() if k.startswith("DUBAN_") and _SECRET_NAMES.search(k)]


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr with masking on every handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter(secret_values()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
