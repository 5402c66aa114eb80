"""`duban simulate` runs the engine's own service layer on the in-memory twins of its ports.

The store contract below is also run against Redis (tests/integration/test_timers.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import services.engine.work as work
from contracts.registry import parse_event
from services.config.load import load_config
from services.core.digest import DigestState
from services.core.evaluate import Rules
from services.simulate import Replay, notice_line, simulate
from services.store.keys import digest_key, hazard_key, unit_key
from services.store.memory import MemoryEntityStore
from services.store.ports import EntityStore, TimerStore, Write
from tests.helpers import at, reported, unit_upserted

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "config" / "example"
START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


async def check_entity_store(store: EntityStore, timers: TimerStore) -> None:
    """Versioned compare-and-set commits that carry their entity's timer."""
    hazard, unit = hazard_key("H1"), unit_key("U1")
    assert [(d.json, d.version) for d in await store.read([hazard])] == [(None, 0)]
    writes = [Write(hazard, 0, '{"s":1}', "hazard:H1", START), Write(unit, 0, '{"u":1}')]
    assert await store.commit(writes) == []
    assert (await timers.next_due(), await timers.pending()) == (START, 1)
    assert [(d.json, d.version) for d in await store.read([hazard, unit])] == [
        ('{"s":1}', 1),
        ('{"u":1}', 1),
    ]
    # A write against a version that moved on loses and changes nothing, its timer neither;
    # the next write in the same commit still applies (and clears the timer).
    stale = Write(hazard, 0, '{"s":2}', "hazard:H1", START + MINUTE)
    fresh = Write(hazard, 1, '{"s":3}', "hazard:H1", None)
    assert await store.commit([stale, fresh]) == [0]
    assert [(d.json, d.version) for d in await store.read([hazard])] == [('{"s":3}', 2)]
    assert await timers.pending() == 0
    assert await store.scan("hazard") == ['{"s":3}']
    assert await store.scan("unit") == ['{"u":1}']


async def check_timer_store(timers: TimerStore) -> None:
    """One timer per member, claimed earliest first (ties by member) and leased."""
    await timers.schedule_many({"hazard:b": START, "hazard:a": START, "duty:x": START + MINUTE})
    await timers.schedule("hazard:c", START + MINUTE)
    await timers.schedule("hazard:c", START + 3 * MINUTE)  # a re-plan moves the one timer
    assert (await timers.pending(), await timers.next_due()) == (4, START)
    claimed = await timers.claim_due(START + MINUTE, 2, lease_s=60)
    assert [(c.member, c.due_at) for c in claimed] == [("hazard:a", START), ("hazard:b", START)]
    assert [c.member for c in await timers.claim_due(START + MINUTE, 10, 60)] == ["duty:x"]
    assert await timers.claim_due(START + 2 * MINUTE - timedelta(seconds=1), 10, 60) == []
    await timers.cancel("duty:x")
    # Leases that ran out come back, with the lease's end as their due time.
    again = await timers.claim_due(START + 3 * MINUTE, 10, 60)
    assert [(c.member, c.due_at) for c in again] == [
        ("hazard:a", START + 2 * MINUTE),
        ("hazard:b", START + 2 * MINUTE),
        ("hazard:c", START + 3 * MINUTE),
    ]
    assert (await timers.pending(), await timers.next_due()) == (3, START + 4 * MINUTE)
    await check_held_timers(timers)


async def check_held_timers(timers: TimerStore) -> None:
    """A held member is left while it is due at or after its moment; others are claimed
    past it, up to the limit."""
    for member in ("hazard:a", "hazard:b", "hazard:c"):
        await timers.cancel(member)
    later = START + 10 * MINUTE
    await timers.schedule_many({"hazard:h": later, "hazard:i": later, "hazard:j": later})
    await timers.schedule("hazard:k", later + MINUTE)
    held = {"hazard:h": later, "hazard:i": later + MINUTE, "hazard:k": later}
    first = await timers.claim_due(later + MINUTE, 1, 60, held)
    assert [c.member for c in first] == ["hazard:i"]  # due before its moment: not held
    rest = await timers.claim_due(later + MINUTE, 10, 60, held)
    assert [c.member for c in rest] == ["hazard:j"]
    assert await timers.claim_due(later + MINUTE, 10, 60, held) == []
    freed = await timers.claim_due(later + MINUTE, 10, 60)
    assert [(c.member, c.due_at) for c in freed] == [
        ("hazard:h", later),
        ("hazard:k", later + MINUTE),
    ]


async def test_the_memory_entity_store_keeps_the_store_contract() -> None:
    store = MemoryEntityStore()
    await check_entity_store(store, store.timers)


async def test_the_memory_timer_store_keeps_the_timer_contract() -> None:
    await check_timer_store(MemoryEntityStore().timers)


def test_simulate_imports_no_kafka_or_redis_client() -> None:
    probe = (
        "import sys, services.simulate\n"
        "loaded = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(loaded & {'redis', 'aiokafka', 'faststream'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_simulate_decides_through_the_engine(rules: Rules, monkeypatch: pytest.MonkeyPatch) -> None:
    decided: list[str] = []
    real = work.advance

    def watched(state, hazard_id, *args, **kwargs):
        decided.append(hazard_id)
        return real(state, hazard_id, *args, **kwargs)

    monkeypatch.setattr(work, "advance", watched)
    events = [
        unit_upserted("U1", at("2026-09-01 08:00")),
        reported("H1", at("2026-09-01 10:00"), datetime(2026, 9, 30).date()),
    ]
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    rows = [notice_line(n) for n in simulate(parsed, rules, at("2026-09-24 00:00"))]
    hazard_kinds = [r["kind"] for r in rows if r["subject"] == "H1"]
    assert hazard_kinds == ["report", "report", "reminder"]
    assert decided == ["H1", "H1"]  # the report as it arrived, then the 7-day timer


async def test_a_digest_remembers_its_last_60_periods_as_the_engine_does(rules: Rules) -> None:
    start = at("2026-09-01 10:00")
    replay = Replay(rules, start)
    old = DigestState(digest="weekly", since=start, sent=[f"old-{i}" for i in range(60)])
    await replay.store.commit([Write(digest_key("weekly"), 0, old.model_dump_json())])
    await replay.start()  # the weekly digest exists: only the others are seeded
    await replay.store.timers.schedule("digest:weekly", at("2026-09-07 09:00"))
    await replay.fire_until(at("2026-09-07 09:00"))
    stored = (await replay.store.read([digest_key("weekly")]))[0].json
    assert stored is not None
    sent = DigestState.model_validate_json(stored).sent
    # The week that ended (09-01..09-06) was appended and the oldest period let go.
    assert (len(sent), sent[0], sent[-1]) == (60, "old-1", "2026-W36")
    to_people = [n.kind for n in replay.sink.take() if n.recipient.role != "group"]
    assert to_people.count("digest") == 1
