"""In-memory twins of the engine's ports: what `duban simulate` runs on, and the fast tests.

They keep the Redis adapters' semantics that the service layer relies on: a commit
succeeds only against the version read and sets its entity's timer in the same step;
timers are claimed earliest first (ties by member, as a sorted set orders them) and
leased; time moves only when told.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from services.core.noticeevent import Boxed
from services.store.keys import document_prefix
from services.store.ports import EMPTY, Claimed, Stored, Write

if TYPE_CHECKING:
    from services.core.evaluate import PlannedNotice
    from services.guard import Record


class VirtualClock:
    """The Clock port for simulations and tests: time stands still until moved."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        """The virtual present."""
        return self.current

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.current += delta

    def set(self, moment: datetime) -> None:
        """Jump to a moment."""
        self.current = moment


class MemoryTimerStore(Mapping[str, datetime]):
    """The TimerStore port in a dict and a heap; reads as a mapping member → due time."""

    def __init__(self) -> None:
        self._due: dict[str, datetime] = {}
        # (due, member) entries; one whose member has moved since is stale and skipped.
        self._heap: list[tuple[datetime, str]] = []

    def __getitem__(self, member: str) -> datetime:
        return self._due[member]

    def __iter__(self) -> Iterator[str]:
        return iter(self._due)

    def __len__(self) -> int:
        return len(self._due)

    def set(self, member: str, due_at: datetime | None) -> None:
        """Set, move or (None) remove a timer at once; the entity store commits with it."""
        if due_at is None:
            self._due.pop(member, None)
            return
        self._due[member] = due_at
        heapq.heappush(self._heap, (due_at, member))

    async def schedule(self, member: str, due_at: datetime) -> None:
        """Set (or move) a member's timer."""
        self.set(member, due_at)

    async def schedule_many(self, due: Mapping[str, datetime]) -> None:
        """Set (or move) many timers."""
        for member, due_at in due.items():
            self.set(member, due_at)

    async def cancel(self, member: str) -> None:
        """Remove a member's timer."""
        self.set(member, None)

    async def claim_due(
        self, now: datetime, limit: int, lease_s: float, held: Mapping[str, datetime] = EMPTY
    ) -> list[Claimed]:
        """Claim up to `limit` timers due at `now`, earliest first, leased for `lease_s`;
        a member in `held` is not claimed if it is due at or after its moment there."""
        claimed: list[Claimed] = []
        waiting: list[tuple[datetime, str]] = []
        while len(claimed) < limit and (top := self._top()) is not None and top[0] <= now:
            heapq.heappop(self._heap)
            if top[1] in held and top[0] >= held[top[1]]:
                waiting.append(top)
            else:
                claimed.append(Claimed(top[1], top[0]))
        for entry in waiting:
            heapq.heappush(self._heap, entry)
        for timer in claimed:  # leased after popping: a zero lease is not claimed twice
            self.set(timer.member, now + timedelta(seconds=lease_s))
        return claimed

    async def next_due(self) -> datetime | None:
        """The earliest pending due time (leased timers included)."""
        top = self._top()
        return top[0] if top else None

    async def pending(self) -> int:
        """How many timers are pending."""
        return len(self._due)

    def _top(self) -> tuple[datetime, str] | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None


class MemoryEntityStore:
    """The EntityStore port in a dict of (version, JSON) by key; commits set `timers`."""

    def __init__(self, timers: MemoryTimerStore | None = None) -> None:
        self.docs: dict[str, tuple[int, str]] = {}
        self.timers = MemoryTimerStore() if timers is None else timers
        self.outbox: dict[str, Boxed] = {}  # by event id, in the order committed

    async def read(self, keys: Sequence[str]) -> list[Stored]:
        """Read many documents (absent ones with version 0 and no JSON)."""
        found = [(key, self.docs.get(key)) for key in keys]
        return [Stored(key, doc[1], doc[0]) if doc else Stored(key, None, 0) for key, doc in found]

    async def scan(self, kind: str) -> list[str]:
        """The JSON of every document of a kind, in the order first committed."""
        prefix = document_prefix(kind)
        return [json for key, (_, json) in self.docs.items() if key.startswith(prefix)]

    async def commit(self, writes: Sequence[Write]) -> list[int]:
        """Commit writes and their timers; the indexes of those whose version moved on."""
        conflicts: list[int] = []
        for i, write in enumerate(writes):
            version = self.docs[write.key][0] if write.key in self.docs else 0
            if version != write.expected_version:
                conflicts.append(i)
                continue
            self.docs[write.key] = (version + 1, write.json)
            if write.timer_member:
                self.timers.set(write.timer_member, write.timer_due)
            self.outbox.update((b.event_id, b) for b in write.outbox)
        return conflicts

    async def outbox_done(self, event_ids: Sequence[str]) -> None:
        """Clear published events from the outbox."""
        for event_id in event_ids:
            self.outbox.pop(event_id, None)

    async def outbox_due(self, min_age_s: float, limit: int) -> list[Boxed]:
        """Every event still in the outbox, oldest first: in one process nothing is in
        flight between two calls, so whatever is left was never published."""
        return list(self.outbox.values())[:limit]


class RecordingSink:
    """The Sink port kept in lists: the notices published and the records dead-lettered."""

    def __init__(self) -> None:
        self.published: list[PlannedNotice] = []
        self.swept: list[Boxed] = []
        self.dead: list[tuple[bytes, str]] = []

    async def notices(
        self, notices: Sequence[PlannedNotice], encoded: Sequence[Boxed] = ()
    ) -> None:
        """Keep the notices, in order."""
        self.published.extend(notices)

    async def boxed(self, events: Sequence[Boxed]) -> None:
        """Keep outbox events published by a sweep."""
        self.swept.extend(events)

    async def dead_letter(self, record: Record, reason: str) -> None:
        """Keep the record's bytes and the reason."""
        self.dead.append((record.value, reason))

    def take(self) -> list[PlannedNotice]:
        """The notices published since the last take."""
        taken, self.published = self.published, []
        return taken
