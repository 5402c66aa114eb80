"""The hash chain: each row's hash covers its content and the previous row of its subject.

Pure: sealing entries into rows and checking stored rows back. A subject's rows are
numbered 1, 2, 3, … (`chain_no`); row n carries the hash of row n-1 (`prev_hash`, the
zero hash for row 1), and its own hash is SHA-256 over that and its content. Altering a
row breaks its hash, removing one leaves a gap in the numbers or a dangling head,
reordering breaks the numbering or the links: `verify` names the row in each case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from services.audit.rows import Entry, canonical_bytes

GENESIS = bytes(32)


@dataclass(frozen=True)
class Head:
    """The last row of a subject's chain."""

    chain_no: int
    hash: bytes


@dataclass(frozen=True)
class Row:
    """A sealed row, as written and as read back."""

    seq: int  # the store's append order (0 before it is written)
    event_id: str
    source: str
    subject: str
    root: str | None
    record_class: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    keep_until: datetime
    origin: str
    body: str
    chain_no: int
    prev_hash: bytes
    hash: bytes

    def label(self) -> str:
        """How a problem names this row."""
        return f"主体 {self.subject} 第 {self.chain_no} 行（事件 {self.event_id}）"


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def content_hash(row: Row) -> bytes:
    """SHA-256 over the previous hash and everything the row says."""
    return _hash(
        row.prev_hash,
        [
            row.event_id,
            row.source,
            row.subject,
            row.root,
            row.record_class,
            row.type,
            _instant(row.occurred_at),
            _instant(row.recorded_at),
            _instant(row.keep_until),
            row.origin,
            row.chain_no,
            row.body,
        ],
    )


def _hash(prev_hash: bytes, content: Sequence[object]) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes(content)).digest()


def seal(entry: Entry, head: Head | None, recorded_at: datetime, keep_until: datetime) -> Row:
    """The row `entry` makes after `head` (None: the first of its subject)."""
    chain_no, prev_hash = (1, GENESIS) if head is None else (head.chain_no + 1, head.hash)
    return Row(0, *sealed(Sealer(recorded_at).ready(entry, keep_until), chain_no, prev_hash))


class Sealable(NamedTuple):
    """An entry ready to be sealed: all but its place in its chain. The canonical JSON of
    its content is made already, cut around the chain number."""

    entry: Entry
    recorded_at: datetime
    keep_until: datetime
    before: bytes  # '[<event_id>,…,<origin>,'
    after: bytes  # ',<body>]'


class Sealer:
    """Makes entries ready to be sealed, all recorded at one moment. This is most of the
    work of sealing, and needs no chain head: it can be done before the heads are read."""

    def __init__(self, recorded_at: datetime) -> None:
        self.recorded_at = recorded_at
        self._recorded = _instant(recorded_at)  # once for all, not once per row

    def ready(self, entry: Entry, keep_until: datetime) -> Sealable:
        # The instants go in as UTC datetimes: orjson writes them as `_instant` does (ISO
        # 8601, "+00:00", microseconds when there are some) at a fraction of isoformat's cost.
        content = [
            entry.event_id,
            entry.source,
            entry.subject,
            entry.root,
            entry.record_class,
            entry.type,
            entry.occurred_at.astimezone(UTC),
            self._recorded,
            keep_until.astimezone(UTC),
            entry.origin,
        ]
        before = canonical_bytes(content)[:-1] + b","
        after = b"," + canonical_bytes(entry.body) + b"]"
        return Sealable(entry, self.recorded_at, keep_until, before, after)


def sealed(ready: Sealable, chain_no: int, prev_hash: bytes) -> tuple[Any, ...]:
    """The columns (Row's fields after `seq`) of row `chain_no` of its subject, after the
    row whose hash is `prev_hash` (GENESIS for the first): the hash is `_hash`'s, over the
    canonical content with the chain number put back in its place."""
    e = ready.entry
    content = b"".join((prev_hash, ready.before, str(chain_no).encode(), ready.after))
    return (
        e.event_id,
        e.source,
        e.subject,
        e.root,
        e.record_class,
        e.type,
        e.occurred_at,
        ready.recorded_at,
        ready.keep_until,
        e.origin,
        e.body,
        chain_no,
        prev_hash,
        hashlib.sha256(content).digest(),
    )


@dataclass(frozen=True)
class Problem:
    """A row that is not what was written."""

    subject: str
    chain_no: int
    event_id: str
    what: str

    def __str__(self) -> str:
        return f"主体 {self.subject} 第 {self.chain_no} 行（事件 {self.event_id}）：{self.what}"


def verify(rows: Iterable[Row], heads: dict[str, Head] | None = None) -> Iterator[Problem]:
    """Problems of rows given in (subject, seq) order; `heads` the recorded last rows."""
    heads = heads or {}
    seen: set[str] = set()
    previous: Row | None = None
    for row in rows:
        if previous is not None and row.subject != previous.subject:
            yield from _tail(previous, heads)
            previous = None
        seen.add(row.subject)
        yield from _check(row, previous)
        previous = row
    if previous is not None:
        yield from _tail(previous, heads)
    for subject in sorted(set(heads) - seen):
        yield Problem(subject, 1, "?", "整条记录链被删除 (every row of the subject removed)")


def _check(row: Row, previous: Row | None) -> Iterator[Problem]:
    expected = 1 if previous is None else previous.chain_no + 1
    link = GENESIS if previous is None else previous.hash
    if row.chain_no < expected:
        yield Problem(row.subject, row.chain_no, row.event_id, "顺序被调换 (rows reordered)")
    elif row.chain_no > expected:
        yield Problem(
            row.subject,
            expected,
            row.event_id,
            f"缺少第 {expected} 行，被删除 (row {expected} removed; next found is {row.chain_no})",
        )
    elif row.prev_hash != link:
        yield Problem(
            row.subject,
            row.chain_no,
            row.event_id,
            "与前一行的链接不符 (link to row before broken)",
        )
    if content_hash(row) != row.hash:
        yield Problem(row.subject, row.chain_no, row.event_id, "内容被改动 (content altered)")


def _tail(last: Row, heads: dict[str, Head]) -> Iterator[Problem]:
    head = heads.get(last.subject)
    if head is None or (head.chain_no, head.hash) == (last.chain_no, last.hash):
        return
    if head.chain_no > last.chain_no:
        what = f"末尾第 {last.chain_no + 1}–{head.chain_no} 行被删除 (last rows removed)"
        yield Problem(last.subject, last.chain_no + 1, "?", what)
    else:
        what = "与记录的链尾不符 (the recorded chain head differs)"
        yield Problem(last.subject, last.chain_no, last.event_id, what)
