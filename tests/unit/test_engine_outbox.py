"""Commit, then publish (services.engine.outbox): a commit that loses a race publishes
nothing; an engine that dies between its commit and the broker leaves its notices in the
outbox, and the sweep publishes them, the same bytes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path

import pytest

from services.config.load import load_config
from services.core.evaluate import PlannedNotice, Rules
from services.core.noticeevent import Boxed, box
from services.engine.outboxsweep import OutboxSweep
from services.engine.work import Engine
from services.guard import Record
from services.store.memory import MemoryEntityStore, RecordingSink
from services.store.ports import Write
from tests.fakes import FakeClock
from tests.helpers import at, hazard_event, reported, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def record(event: dict, offset: int = 0) -> Record:
    return Record(json.dumps(event).encode(), "hazard.events", 0, offset)


class InterleavingStore(MemoryEntityStore):
    """One store shared by two replicas; `meanwhile` runs once just before the next
    commit: the other replica committing first."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[object]] | None = None

    async def commit(self, writes: Sequence[Write]) -> list[int]:
        other, self.meanwhile = self.meanwhile, None
        if other is not None:
            await other()
        return await super().commit(writes)


class DyingSink(RecordingSink):
    """A sink whose publish never reaches the broker: its engine dies there."""

    async def notices(
        self, notices: Sequence[PlannedNotice], encoded: Sequence[Boxed] = ()
    ) -> None:
        raise SystemExit("killed between the commit and the broker")


async def test_a_reminder_decided_as_another_replica_closes_the_hazard_is_not_sent(
    rules: Rules,
) -> None:
    store, clock = InterleavingStore(), FakeClock(at("2026-09-01 10:00"))
    a_sink, b_sink = RecordingSink(), RecordingSink()
    a, b = Engine(rules, store, a_sink, clock), Engine(rules, store, b_sink, clock)
    await a.handle(
        [
            record(unit_upserted("U1", at("2026-08-01 08:00"))),
            record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30)), 1),
        ]
    )
    a_sink.published.clear()
    clock.set(at("2026-09-23 09:00"))  # the 7-day reminder is due
    closed = hazard_event(
        "hazard.closed", "H1", at("2026-09-23 08:59"), closed_at=at("2026-09-23 08:59")
    )
    store.meanwhile = lambda: b.handle([record(closed, 2)])  # B commits the close-out first
    await a.fire(["hazard:H1"])
    assert [n.kind for n in a_sink.published] == []  # decided on a stale state: not sent
    assert "closure" in {n.kind for n in b_sink.published}
    assert store.outbox == {}


async def test_notices_of_an_engine_killed_before_the_broker_are_swept_out(
    rules: Rules,
) -> None:
    store, clock = MemoryEntityStore(), FakeClock(at("2026-09-01 10:00"))
    dying = Engine(rules, store, DyingSink(), clock)
    event = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))
    with pytest.raises(SystemExit):
        await dying.handle([record(unit_upserted("U1", at("2026-08-01 08:00"))), record(event, 1)])
    assert len(store.outbox) == 2  # committed: the reports to R1 and C1 are kept
    # The batch comes again (offsets were not committed): its events are duplicates now,
    # nothing is decided twice; the sweep publishes what the dead engine left.
    sink = RecordingSink()
    again = Engine(rules, store, sink, clock)
    report = await again.handle([record(event, 1)])
    assert report.outcomes == {"duplicate": 1} and sink.published == []
    assert await OutboxSweep(store, sink).once() == 2
    assert [json.loads(b.payload)["data"]["recipient"]["person_id"] for b in sink.swept] == [
        "R1",
        "C1",
    ]
    assert store.outbox == {}
    assert await OutboxSweep(store, sink).once() == 0


async def test_the_swept_bytes_are_the_ones_the_engine_would_have_published(
    rules: Rules,
) -> None:
    store, sink = MemoryEntityStore(), RecordingSink()
    eng = Engine(rules, store, sink, FakeClock(at("2026-09-01 10:00")))
    await eng.handle([record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30)))])
    assert sink.published and store.outbox == {}  # published, then cleared
    kept = box(sink.published[0])
    event = json.loads(kept.payload)
    assert (event["id"], event["subject"]) == (kept.event_id, kept.key)
    assert kept.key == sink.published[0].notice_id
