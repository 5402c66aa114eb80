"""Logging for the services: one line per message, secrets and personal data masked.

Masking happens in one place, the root handler's :class:`MaskingFormatter`: on the whole
formatted text, so the message, an exception's text, its traceback and stack_info are
all masked. Libraries' loggers (aiokafka, aiohttp.access) reach that handler by
propagation. FastStream's "faststream" logger has a handler of its own and does not
propagate: :func:`setup_logging` routes it to the root handler. A FastStream broker or
app must be given ``logger=``: without one, a broker logs to "faststream.access.<kind>",
which FastStream creates at the broker's start with its own stdout handler, unmasked.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from types import TracebackType

# Imported first: importing faststream gives its "faststream" logger a handler of its own,
# which setup_logging then takes away.
import faststream  # noqa: F401

from services.masking import mask, register_secrets, secrets_from_env

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_MESSAGE_CHARS = 4000
# Loggers that libraries give handlers of their own (and propagate=False).
_OWN_HANDLER_LOGGERS = ("faststream",)
# A message stays on one line: a line break in data cannot forge a log line. Nor can
# other control characters (terminal escapes) reach the log, in tracebacks neither.
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class MaskingFormatter(logging.Formatter):
    """Formats a record, then masks the whole text: message, exception and stack."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_text:  # cached by another handler's formatter, perhaps unmasked
            record.exc_text = mask(record.exc_text)
        text = mask(super().format(record))
        return text if text.isprintable() else _CONTROLS.sub(" ", text)

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = _LINE_CONTROLS.sub(" ", record.message)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        record.message = message
        return super().formatMessage(record)

    def formatException(self, ei: _ExcInfo) -> str:
        # Formatter.format caches this on the record (exc_text) for every later handler.
        return mask(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return mask(super().formatStack(stack_info))


def setup_logging(env: Mapping[str, str], level: int = logging.INFO) -> None:
    """Log to stderr through the masking formatter; mask the secrets of `env`, the
    environment the settings were read from (`Settings.environment()`)."""
    register_secrets(secrets_from_env(env))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _OWN_HANDLER_LOGGERS:
        own = logging.getLogger(name)
        own.handlers.clear()
        own.propagate = True
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
