"""What the trail writes and hashes, spelled out: a row's hash is SHA-256 over the previous
hash and the canonical JSON of its content, whichever way it is sealed; the columns the
writer copies are the row's fields in order; person versions are the same when remembered."""

from __future__ import annotations

import hashlib
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from contracts.registry import InputLimits
from contracts.topics import Topics
from services.audit.chain import GENESIS, Head, Row, Sealer, content_hash, seal
from services.audit.retention import Retention
from services.audit.rows import AuditRecord, Entry, canonical, entry_of, person_version
from services.audit.writer import COLUMNS, TrailWriter

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
TOPICS = Topics()
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
KEEP = NOW + timedelta(days=365)


class Clock:
    def now(self) -> datetime:
        return NOW


def notice() -> Entry:
    value = (EXAMPLES / "notice.requested.json").read_bytes()
    found = entry_of(AuditRecord(value, TOPICS.notice_requested, 0, 1), TOPICS, InputLimits())
    assert found is not None
    return found


def expected_hash(prev: bytes, e: Entry, chain_no: int, keep: datetime) -> bytes:
    """The chain's definition, independent of how the code computes it."""
    content = [
        e.event_id,
        e.source,
        e.subject,
        e.root,
        e.record_class,
        e.type,
        e.occurred_at.astimezone(UTC).isoformat(),
        NOW.isoformat(),
        keep.astimezone(UTC).isoformat(),
        e.origin,
        chain_no,
        e.body,
    ]
    return hashlib.sha256(prev + canonical(content).encode()).digest()


def test_a_row_hash_is_sha256_over_the_previous_hash_and_its_canonical_content() -> None:
    e = notice()
    first = seal(e, None, NOW, KEEP)
    assert (first.chain_no, first.prev_hash) == (1, GENESIS)
    assert first.hash == expected_hash(GENESIS, e, 1, KEEP)
    second = seal(e, Head(1, first.hash), NOW, KEEP)
    assert (second.chain_no, second.prev_hash) == (2, first.hash)
    assert second.hash == expected_hash(first.hash, e, 2, KEEP)


def test_the_writer_seals_a_batch_as_seal_does_row_by_row() -> None:
    e = notice()
    writer = TrailWriter(None, Retention(), Clock())  # type: ignore[arg-type]
    ready = writer.prepare([e, e])  # made ready before the heads are known
    heads = {e.subject: (4, b"\x01" * 32)}
    first, second = writer.sealed(ready, heads)
    keep = Retention().keep_until(e.record_class, e.occurred_at)
    assert Row(0, *first) == seal(e, Head(4, b"\x01" * 32), NOW, keep)
    assert Row(0, *second) == seal(e, Head(5, first[-1]), NOW, keep)
    assert heads[e.subject] == (6, second[-1])  # the head moves along with the batch
    assert Sealer(NOW).ready(e, keep) == ready[0]


def test_the_copied_columns_are_the_row_s_fields_in_order() -> None:
    assert tuple(f.name for f in fields(Row)) == ("seq", *COLUMNS)


def test_a_remembered_person_version_is_the_one_computed() -> None:
    details = {"name": "张三", "mobile": "13700000001", "email": None}
    first = person_version("P1", details)
    assert person_version("P1", dict(details)) == first
    assert person_version("P2", details).digest != first.digest
    odd = person_version("P1", {**details, "mobile": ["13700000001"]})  # garbage, not text
    assert odd.digest != first.digest and odd.details["name"] == "张三"


def test_instants_are_hashed_as_their_iso_text_in_utc() -> None:
    """Sealing lets orjson write the instants; the chain's definition is isoformat in UTC."""
    e = notice()
    moments = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 4, 10, 17, 20, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 4, 10, 17, 20, 0, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(9999, 12, 31, 23, 59, 59, 100_000, tzinfo=UTC),
    ]
    for moment in moments:
        entry = replace(e, occurred_at=moment)
        row = seal(entry, None, NOW, moment)
        assert row.hash == expected_hash(GENESIS, entry, 1, moment)
        assert content_hash(row) == row.hash
