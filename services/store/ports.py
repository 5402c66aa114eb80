"""The engine's ports: where state and timers are kept, and where its output goes.

Redis implements the stores (services.store.entities, services.store.timers), Kafka the
sink (services.kafka); services.store.memory has the in-memory twins `duban simulate`
and the fast tests run on. The engine and simulate see only these Protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from services.core.noticeevent import Boxed

if TYPE_CHECKING:
    from services.core.evaluate import PlannedNotice
    from services.guard import Record


@dataclass(frozen=True)
class Stored:
    """A document as read: its JSON (None if absent) and the version to commit against."""

    key: str
    json: str | None
    version: int


@dataclass(frozen=True)
class Write:
    """A document to commit, with the timer to set for it (or clear, or leave alone), and
    the notices it decided, into the outbox in the same commit."""

    key: str
    expected_version: int
    json: str
    timer_member: str | None = None
    timer_due: datetime | None = None
    outbox: tuple[Boxed, ...] = ()


@dataclass(frozen=True)
class Claimed:
    """A timer this replica now owns until its lease ends."""

    member: str
    due_at: datetime


class EntityStore(Protocol):
    """Versioned documents, each committed together with its entity's timer."""

    async def read(self, keys: Sequence[str]) -> list[Stored]:
        """Read many documents at once (absent ones with version 0 and no JSON)."""
        ...

    async def scan(self, kind: str) -> list[str]:
        """The JSON of every document of a kind ("hazard", "unit", "duty"); for digests."""
        ...

    async def commit(self, writes: Sequence[Write]) -> list[int]:
        """Commit writes, their timers and outbox entries; the indexes of those whose
        version moved on (nothing of those is written)."""
        ...

    async def outbox_done(self, event_ids: Sequence[str]) -> None:
        """Clear published events from the outbox."""
        ...

    async def outbox_due(self, min_age_s: float, limit: int) -> list[Boxed]:
        """Up to `limit` outbox events kept longer than `min_age_s` (their publisher
        died), each left alone by other sweeps for another `min_age_s`."""
        ...


#: No timer held (claim_due's default).
EMPTY: Mapping[str, datetime] = MappingProxyType({})


class TimerStore(Protocol):
    """One pending timer per member, scored by due time, claimed with a lease."""

    async def schedule(self, member: str, due_at: datetime) -> None:
        """Set (or move) a member's timer."""
        ...

    async def schedule_many(self, due: Mapping[str, datetime]) -> None:
        """Set (or move) many timers."""
        ...

    async def cancel(self, member: str) -> None:
        """Remove a member's timer."""
        ...

    async def claim_due(
        self, now: datetime, limit: int, lease_s: float, held: Mapping[str, datetime] = EMPTY
    ) -> list[Claimed]:
        """Claim up to `limit` timers due at `now`, earliest first, leased for `lease_s`;
        a member in `held` is not claimed if it is due at or after its moment there."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest pending due time (leased timers included)."""
        ...

    async def pending(self) -> int:
        """How many timers are pending."""
        ...


class Sink(Protocol):
    """Where the engine's output goes."""

    async def notices(
        self, notices: Sequence[PlannedNotice], encoded: Sequence[Boxed] = ()
    ) -> None:
        """Publish notices (as `encoded`, in the same order, when given); return once the
        broker has them."""
        ...

    async def boxed(self, events: Sequence[Boxed]) -> None:
        """Publish outbox events left by a publisher that died; return once the broker
        has them."""
        ...

    async def dead_letter(self, record: Record, reason: str) -> None:
        """Publish an invalid record with its reason; return once the broker has it."""
        ...
