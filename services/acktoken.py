"""Signed, expiring acknowledgement tokens (HMAC-SHA256); pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

# The only text _b64 produces: the URL-safe alphabet, unpadded.
_URLSAFE_UNPADDED = re.compile(r"[A-Za-z0-9_-]+")


class InvalidToken(ValueError):
    """A token that is forged, altered, malformed or expired; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AckClaim:
    """What a valid token says: this person may acknowledge this notice."""

    notice_id: str
    person_id: str
    expires_at_s: int


def sign(secret: bytes, claim: AckClaim) -> str:
    """A URL-safe token carrying the claim and its signature."""
    body = json.dumps(
        [claim.notice_id, claim.person_id, claim.expires_at_s],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
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
    if not (isinstance(fields, list) and len(fields) == 3 and isinstance(fields[2], int)):
        raise InvalidToken("malformed token")
    claim = AckClaim(str(fields[0]), str(fields[1]), fields[2])
    if now_s >= claim.expires_at_s:
        raise InvalidToken("link expired")
    return claim


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
