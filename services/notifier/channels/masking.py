"""Masking of personal data in anything that may end up in a log or an exception.

* ``mask_mobile("13800138000")`` → ``"138****8000"`` (a ``+86``/``86`` prefix is kept)
* ``mask_email("zhang@example.com")`` → ``"z***@example.com"``
* :func:`redact` masks every mobile number and email address found in free text, e.g.
  a provider's error message that echoes the request, and bounds its length.
"""

from __future__ import annotations

import re

_MOBILE_FULL = re.compile(r"(\+?86|0086)?[\s-]?(1\d{10})")
# A mainland mobile inside free text: 11 digits starting 1[3-9], not part of a longer
# run of digits.  An optional +86/86 prefix is kept.
_MOBILE_IN_TEXT = re.compile(r"(?<![\d])(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_EMAIL_IN_TEXT = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)"
)


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


def redact(text: str | None, *, limit: int = 300) -> str:
    """Mask mobiles and email addresses inside ``text`` and cut it to ``limit`` chars."""
    if not text:
        return ""
    out = _MOBILE_IN_TEXT.sub(
        lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}",
        text,
    )
    out = _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", out)
    out = " ".join(out.split())  # one line, no control characters
    if len(out) > limit:
        out = out[: limit - 1] + "…"
    return out
