"""Signed, expiring acknowledgement tokens (HMAC-SHA256); pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

# The only text _b64 produces: the URL-safe alphabet, unpadded.
_URLSAFE_UNPADDED = re.compile(r"[A-Za-z0-9_-]+")


class InvalidToken(ValueError):
    """A token that is forged, altered, malformed or expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What the acknowledgement page shows, as the notice said it when the link was made: short
# keys keep links short; texts are cut to DETAIL_MAX_CHARS.
_DETAIL_KEYS = {
    "k": "kind",
    "a": "action",
    "l": "level",
    "t": "title",
    "u": "unit",
    "d": "deadline",
}
DETAIL_MAX_CHARS = 40


@dataclass(frozen=True)
class AckDetails:
    """What the notice is about, for the page that asks the person to confirm it: kind and
    action (the step), hazard level, title (hazard title or duty code), unit or subject
    name, deadline (ISO date). All optional: tokens made before these existed carry none."""

    kind: str | None = None
    action: str | None = None
    level: str | None = None
    title: str | None = None
    unit: str | None = None
    deadline: str | None = None

    @classmethod
    def of(cls, kind: str, action: str | None, facts: Mapping[str, Any]) -> AckDetails:
        """The details of a notice of this kind and action with these template facts
        (hazard facts, or a duty's: its code, subject name and period end)."""
        deadline = _day(facts.get("deadline")) or _last_day(facts.get("period_end"))
        return cls(
            kind=kind,
            action=action,
            level=_text(facts.get("level")),
            title=_text(facts.get("title") or facts.get("duty")),
            unit=_text(facts.get("unit_name") or facts.get("subject_name")),
            deadline=deadline,
        )

    def packed(self) -> dict[str, str]:
        """The details as the token carries them: short keys, set values only."""
        return {k: v for k, name in _DETAIL_KEYS.items() if (v := getattr(self, name))}

    @classmethod
    def unpacked(cls, packed: object) -> AckDetails:
        """The details a token carries; InvalidToken if they are not a map of texts."""
        if not isinstance(packed, dict) or not all(
            k in _DETAIL_KEYS and isinstance(v, str) for k, v in packed.items()
        ):
            raise InvalidToken("malformed token")
        return cls(**{_DETAIL_KEYS[k]: v for k, v in packed.items()})


@dataclass(frozen=True)
class AckClaim:
    """What a valid token says: this person may acknowledge this notice."""

    notice_id: str
    person_id: str
    expires_at_s: int
    details: AckDetails = AckDetails()


def sign(secret: bytes, claim: AckClaim) -> str:
    """A URL-safe token carrying the claim and its signature; a claim without details
    gives the same text as before details existed."""
    fields: list[Any] = [claim.notice_id, claim.person_id, claim.expires_at_s]
    if packed := claim.details.packed():
        fields.append(packed)
    body = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
    payload = _b64(body)
    return f"{payload}.{_b64(_mac(secret, payload))}"


def verify(secret: bytes, token: str, now_s: int) -> AckClaim:
    """The claim of a genuine, unexpired token; InvalidToken otherwise."""
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise InvalidToken("malformed token")
    try:
        given = _unb64(signature)
        fields = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidToken("malformed token") from e
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise InvalidToken("signature does not match (forged or altered)")
    if not (isinstance(fields, list) and len(fields) in (3, 4) and isinstance(fields[2], int)):
        raise InvalidToken("malformed token")
    details = AckDetails.unpacked(fields[3]) if len(fields) == 4 else AckDetails()
    claim = AckClaim(str(fields[0]), str(fields[1]), fields[2], details)
    if now_s >= claim.expires_at_s:
        raise InvalidToken("link expired")
    return claim


def _text(value: object) -> str | None:
    """A fact as a short single-line text, or None when it is empty."""
    if value is None or value == "":
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= DETAIL_MAX_CHARS else text[: DETAIL_MAX_CHARS - 1] + "…"


def _day(value: object) -> str | None:
    """The day (ISO) of a date or an ISO instant, as written in its own offset."""
    return str(value)[:10] if value else None


def _last_day(value: object) -> str | None:
    """The last day (ISO) of a period whose exclusive end is this ISO instant: the day
    before when the end is at midnight, else its own day."""
    if not value:
        return None
    try:
        end = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if end.time() == time(0, 0):
        return (end.date() - timedelta(days=1)).isoformat()
    return end.date().isoformat()


def _mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, payload.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """The bytes of exactly what _b64 produces; anything else is malformed. The lenient
    decoder drops foreign characters and ignores padding and unused trailing bits, which
    would let many texts pass as one token."""
    if not _URLSAFE_UNPADDED.fullmatch(text):
        raise InvalidToken("malformed token")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise InvalidToken("malformed token")
    return raw
