"""Acknowledgement tokens: only a genuine, unaltered, unexpired token yields its claim."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string

import pytest

from services.acktoken import DETAIL_MAX_CHARS, AckClaim, AckDetails, InvalidToken, sign, verify

SECRET = b"ack-test-secret-0123456789"
NOW = 1_790_000_000
CLAIM = AckClaim("H1:major-overdue:letter", "R1", NOW + 3600)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def refused(token: str, now: int = NOW, secret: bytes = SECRET) -> str:
    with pytest.raises(InvalidToken) as caught:
        verify(secret, token, now)
    return caught.value.reason


def test_a_valid_token_yields_its_claim() -> None:
    token = sign(SECRET, CLAIM)
    assert verify(SECRET, token, NOW) == CLAIM
    assert token.isascii() and not set(token) & set("+/=&?# ")  # safe in a URL as is


def test_chinese_and_punctuated_ids_survive_the_round_trip() -> None:
    claim = AckClaim("隐患-7:escalation/letter#2", "张三.P-0042", NOW + 60)
    assert verify(SECRET, sign(SECRET, claim), NOW) == claim


def test_a_token_signed_with_another_secret_is_forged() -> None:
    forged = sign(b"someone-else's-secret", CLAIM)
    assert "forged or altered" in refused(forged)


def test_a_token_with_another_payload_is_altered() -> None:
    token = sign(SECRET, CLAIM)
    other = sign(SECRET, AckClaim(CLAIM.notice_id, "C1", CLAIM.expires_at_s))
    spliced = other.split(".")[0] + "." + token.split(".")[1]  # someone else's ack, our sig
    assert "forged or altered" in refused(spliced)


def test_a_token_with_a_changed_signature_is_altered() -> None:
    payload, signature = sign(SECRET, CLAIM).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert "forged or altered" in refused(f"{payload}.{flipped}")


def test_a_later_expiry_cannot_be_written_in() -> None:
    payload = b64(json.dumps([CLAIM.notice_id, CLAIM.person_id, NOW + 10**9]).encode())
    signature = sign(SECRET, CLAIM).split(".")[1]
    assert "forged or altered" in refused(f"{payload}.{signature}")


def test_a_token_is_valid_until_its_expiry_and_not_at_it() -> None:
    token = sign(SECRET, CLAIM)
    assert verify(SECRET, token, CLAIM.expires_at_s - 1) == CLAIM
    assert refused(token, now=CLAIM.expires_at_s) == "link expired"
    assert refused(token, now=CLAIM.expires_at_s + 86400) == "link expired"


@pytest.mark.parametrize(
    "token",
    ["", ".", "no-dot-at-all", "abc.", ".abc", "!!!.???", "a.b.c", "é.é"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert refused(token) == "malformed token"


def test_a_signed_token_with_the_wrong_shape_is_malformed() -> None:
    for body in ([CLAIM.notice_id, CLAIM.person_id], ["n", "p", "tomorrow"], {"n": 1}):
        payload = b64(json.dumps(body).encode())
        mac = hmac.new(SECRET, payload.encode(), hashlib.sha256).digest()
        assert refused(f"{payload}.{b64(mac)}") == "malformed token"


def lenient_b64decode(text: str) -> bytes:
    """How the part was decoded before: foreign characters dropped, padding tolerated."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def same_bytes_last_char(part: str) -> str:
    """`part` with its last character changed in the unused low bits only (a 32-byte
    signature is 43 characters: 258 bits, two of them unused)."""
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    return part[:-1] + alphabet[alphabet.index(part[-1]) ^ 1]


def standard_alphabet(part: str) -> str:
    """`part` written in the standard alphabet, which the lenient decoder also read."""
    return part.replace("-", "+").replace("_", "/")


def variants(token: str) -> dict[str, str]:
    """Other texts of the same token, each of which verified before decoding was strict."""
    payload, signature = token.split(".")
    return {
        "= after the signature": f"{token}=",
        "== after the signature": f"{token}==",
        "!! after the signature": f"{token}!!",
        "= after the payload": f"{payload}=.{signature}",
        "!! inside the payload": f"{payload[:4]}!!{payload[4:]}.{signature}",
        "same bytes, other last character": f"{payload}.{same_bytes_last_char(signature)}",
        "standard alphabet": f"{standard_alphabet(payload)}.{standard_alphabet(signature)}",
        "leading spaces": f"  {payload}.{signature}",
        "trailing line break": f"{token}\r\n",
        "line break inside the signature": f"{payload}.{signature[:20]}\r\n{signature[20:]}",
    }


def token_with_both_alphabets() -> str:
    """A token whose parts both use '-' or '_', so the standard-alphabet variant differs
    (Chinese ids: ASCII-only JSON seldom encodes to them)."""
    for expiry in range(NOW + 3600, NOW + 7200):
        token = sign(SECRET, AckClaim("隐患-7:逾期函告", "张三", expiry))
        if all(set(part) & set("-_") for part in token.split(".")):
            return token
    raise AssertionError("no such token in the range")


TOKEN = token_with_both_alphabets()


@pytest.mark.parametrize("variant", list(variants(TOKEN).values()), ids=list(variants(TOKEN)))
def test_only_the_canonical_text_of_a_token_verifies(variant: str) -> None:
    assert verify(SECRET, TOKEN, NOW).person_id == "张三"
    # Each variant decodes, the old lenient way, to exactly the bytes of the genuine token.
    payload, signature = TOKEN.split(".")
    given_payload, _, given_signature = variant.partition(".")
    assert lenient_b64decode(given_signature) == lenient_b64decode(signature)
    assert lenient_b64decode(given_payload) == lenient_b64decode(payload)
    assert refused(variant) == "malformed token"


DETAILS = AckDetails(
    kind="escalation", action="letter", level="major", title="储罐区报警器失效", unit="鑫源化工"
)


def test_details_ride_along_and_are_signed() -> None:
    claim = AckClaim(CLAIM.notice_id, CLAIM.person_id, CLAIM.expires_at_s, DETAILS)
    token = sign(SECRET, claim)
    assert verify(SECRET, token, NOW) == claim
    other = sign(SECRET, AckClaim(CLAIM.notice_id, CLAIM.person_id, CLAIM.expires_at_s))
    spliced = token.split(".")[0] + "." + other.split(".")[1]
    assert "forged or altered" in refused(spliced)  # details cannot be swapped in


def test_a_claim_without_details_signs_as_tokens_did_before_details() -> None:
    fields = [CLAIM.notice_id, CLAIM.person_id, CLAIM.expires_at_s]
    payload = b64(json.dumps(fields, separators=(",", ":")).encode())
    assert sign(SECRET, CLAIM).split(".")[0] == payload  # the same text as before details
    assert verify(SECRET, sign(SECRET, CLAIM), NOW).details == AckDetails()


@pytest.mark.parametrize("details", [{"k": 1}, {"zz": "x"}, ["escalation"], "escalation"], ids=str)
def test_signed_details_of_the_wrong_shape_are_malformed(details: object) -> None:
    body = [CLAIM.notice_id, CLAIM.person_id, CLAIM.expires_at_s, details]
    payload = b64(json.dumps(body).encode())
    mac = hmac.new(SECRET, payload.encode(), hashlib.sha256).digest()
    assert refused(f"{payload}.{b64(mac)}") == "malformed token"


def test_details_of_a_hazard_notice_and_of_a_duty_notice() -> None:
    hazard = {
        "title": "储罐区  报警器\n失效" + "很长" * 30,
        "level": "major",
        "unit_name": "白土镇鑫源化工有限公司",
        "deadline": "2026-12-01T00:00:00+08:00",
    }
    made = AckDetails.of("escalation", "circular", hazard)
    assert (made.kind, made.action, made.level, made.deadline) == (
        "escalation",
        "circular",
        "major",
        "2026-12-01",
    )
    assert made.title is not None and made.title.startswith("储罐区 报警器 失效")
    assert len(made.title) == DETAIL_MAX_CHARS and made.title.endswith("…")
    duty = {
        "duty": "evacuation_drill",
        "subject_name": "鑫源化工",
        "period_end": "2027-01-01T00:00:00+08:00",
    }
    made = AckDetails.of("duty", None, duty)
    assert (made.title, made.unit, made.deadline) == ("evacuation_drill", "鑫源化工", "2026-12-31")
