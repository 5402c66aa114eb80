"""Masking of secrets and personal data in anything that may leave the process: log
lines, exception texts and tracebacks, receipts' reasons, dead-letter headers.

* ``mask_mobile("13800138000")`` → ``"138****8000"`` (a ``+86``/``86`` prefix is kept)
* ``mask_email("zhang@example.com")`` → ``"z***@example.com"``
* :func:`register_secrets` makes the process know secret values (``DUBAN_*`` passwords,
  keys, tokens, robot webhook URLs: :func:`secrets_from_env`); they become ``******``
  wherever they appear, as typed or URL-encoded.
* :func:`redact` masks secrets, mobiles and email addresses in free text, e.g. a
  provider's error message that echoes the request, on one bounded line.
* :func:`mask` does the same to multi-line text (a traceback), unbounded.

This module sits below every service: it imports none of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

SECRET_MASK = "******"
# Values shorter than this are too likely to occur in ordinary text to be masked by value.
MIN_SECRET_LEN = 6
# Robot webhook URLs carry the robot's key in their query string.
_SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|KEY|WEBHOOK_URL", re.IGNORECASE)

_MOBILE_FULL = re.compile(r"(\+?86|0086)?[\s-]?(1\d{10})")
# A mainland mobile inside free text: 11 digits starting 1[3-9], not part of a longer
# run of digits.  An optional +86/86 prefix is kept.
_MOBILE_IN_TEXT = re.compile(r"(?<![\d])(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_EMAIL_IN_TEXT = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)"
)
# C0 and C1 controls, DEL, line and paragraph separators: never in a one-line text (the
# contracts refuse them in receipts' reasons).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class _Secrets:
    """The secret values this process knows, as one alternation (longest first, so a
    secret containing another is replaced whole)."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        found = {v for v in values if len(v) >= MIN_SECRET_LEN}
        found |= {quote(v, safe="") for v in found}
        if found - self.values:
            self.values |= found
            ordered = sorted(self.values, key=len, reverse=True)
            # Rebound in one assignment: a concurrent redact sees the old or the new one.
            self.pattern = re.compile("|".join(map(re.escape, ordered)))

    def discard(self, values: Iterable[str]) -> None:
        gone = {v for v in values if v} | {quote(v, safe="") for v in values if v}
        if gone & self.values:
            kept = self.values - gone
            ordered = sorted(kept, key=len, reverse=True)
            self.values = kept
            self.pattern = re.compile("|".join(map(re.escape, ordered))) if kept else None

    def clear(self) -> None:
        self.values = set()
        self.pattern = None

    def replace(self, text: str) -> str:
        pattern = self.pattern
        return text if pattern is None else pattern.sub(SECRET_MASK, text)


_SECRETS = _Secrets()


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values (and their URL-encoded forms) from now on; short ones are ignored."""
    _SECRETS.add(values)


def unregister_secrets(values: Iterable[str]) -> None:
    """Stop masking these values (a replaced access token), so the set stays bounded."""
    _SECRETS.discard(list(values))


def forget_secrets() -> None:
    """Forget every registered secret (for tests)."""
    _SECRETS.clear()


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """Values of DUBAN_* variables whose names say they are secrets."""
    return [v for k, v in env.items() if k.startswith("DUBAN_") and _SECRET_NAMES.search(k)]


def mask_mobile(mobile: str | None) -> str:
    """Mask a mobile number, keeping the first 3 and last 4 national digits."""
    if not mobile:
        return ""
    s = mobile.strip()
    m = _MOBILE_FULL.fullmatch(s)
    if m:
        prefix = m.group(1) or ""
        n = m.group(2)
        return f"{prefix}{n[:3]}****{n[-4:]}"
    if len(s) >= 9:
        return f"{s[:3]}****{s[-4:]}"
    if len(s) > 2:
        return "*" * (len(s) - 2) + s[-2:]
    return "*" * len(s)


def mask_email(email: str | None) -> str:
    """Mask an email address: first character of the local part, then ``***``."""
    if not email:
        return ""
    s = email.strip()
    local, sep, domain = s.rpartition("@")
    if not sep or not domain:
        return "***"
    first = local[:1]
    return f"{first}***@{domain}"


def mask(text: str) -> str:
    """Replace known secrets and mask mobiles and email addresses in ``text``; line
    breaks and length are kept as they are (for tracebacks)."""
    out = _SECRETS.replace(text)
    out = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", out)
    return _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", out)


def redact(text: str | None, *, limit: int = 300) -> str:
    """:func:`mask` ``text``, on one line, cut to ``limit`` chars."""
    if not text:
        return ""
    out = mask(text)
    if not out.isprintable():
        out = _CONTROLS.sub(" ", out)
    out = " ".join(out.split())  # one line, no control characters
    if len(out) > limit:
        out = out[: limit - 1] + "…"
    return out


__all__ = [
    "MIN_SECRET_LEN",
    "SECRET_MASK",
    "forget_secrets",
    "mask",
    "mask_email",
    "mask_mobile",
    "redact",
    "register_secrets",
    "secrets_from_env",
    "unregister_secrets",
]
