"""Steps due before an event reached duban, whose timer has not fired yet (it waited for
other partitions, or ran late), are decided before the event: the engine then agrees
with `duban simulate`, which fires every timer at its due time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from contracts.registry import parse_event
from services.config.load import load_config
from services.core.evaluate import Rules
from services.engine.work import Engine
from services.guard import Record
from services.simulate import simulate
from services.store.timers import to_ms
from tests.chaos.run import assemble_config
from tests.fakes import FakeClock, RacingStore, RecordingSink
from tests.helpers import at, hazard_event, reported, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
UNIT = unit_upserted("U1", at("2026-08-01 08:00"))
REPORT = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))
REMINDER_DUE = at("2026-09-23 09:00")  # the 7-day reminder (test_engine)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def record(event: dict, arrived: datetime | None, offset: int = 0) -> Record:
    stamp = to_ms(arrived) if arrived else 0
    return Record(json.dumps(event).encode(), "hazard.events", 0, offset, b"H1", stamp)


def closed(when: datetime) -> dict:
    return hazard_event("hazard.closed", "H1", when, closed_at=when)


async def reported_then(
    rules: Rules, closure: dict, arrived: datetime | None, now: datetime
) -> list[str]:
    """The notice ids the engine publishes for a closure applied at `now`, the reminder's
    timer not fired; the report's own notices left out."""
    store, sink = RacingStore(), RecordingSink()
    clock = FakeClock(at("2026-09-01 09:00"))
    engine = Engine(rules, store, sink, clock)
    await engine.handle([record(UNIT, None), record(REPORT, at("2026-09-01 09:00"), 1)])
    assert store.timers["hazard:H1"] == REMINDER_DUE
    sink.published.clear()
    clock.set(now)
    await engine.handle([record(closure, arrived, 2)])
    return [n.notice_id for n in sink.published]


def simulated(rules: Rules, closure: dict) -> list[str]:
    events = [parse_event(json.dumps(e).encode()) for e in (UNIT, REPORT, closure)]
    notices = simulate(events, rules, at("2026-09-23 23:00"))
    return [n.notice_id for n in notices if n.subject == "H1" and n.kind != "report"]


def test_a_closure_that_came_after_a_reminder_was_due_does_not_cancel_it(rules: Rules) -> None:
    closure = closed(at("2026-09-23 10:00"))
    sent = asyncio.run(
        reported_then(rules, closure, at("2026-09-23 10:00"), at("2026-09-23 10:30"))
    )
    assert sent[0] == "hazard:H1:major-reminders:d7:20260930T155959Z"
    assert sorted(sent) == sorted(simulated(rules, closure))


def test_a_closure_that_came_before_the_reminder_was_due_cancels_it(rules: Rules) -> None:
    closure = closed(at("2026-09-23 08:00"))
    sent = asyncio.run(
        reported_then(rules, closure, at("2026-09-23 08:00"), at("2026-09-23 12:00"))
    )
    assert sent and all(n.startswith("hazard:H1:closure:") for n in sent)
    assert sorted(sent) == sorted(simulated(rules, closure))


def test_the_reminder_decided_early_is_not_sent_again_when_its_timer_fires(rules: Rules) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        store, sink = RacingStore(), RecordingSink()
        clock = FakeClock(at("2026-09-01 09:00"))
        engine = Engine(rules, store, sink, clock)
        await engine.handle([record(UNIT, None), record(REPORT, at("2026-09-01 09:00"), 1)])
        clock.set(at("2026-09-23 10:30"))
        arrived = at("2026-09-23 10:00")
        await engine.handle([record(closed(arrived), arrived, 2)])
        first = [n.notice_id for n in sink.published]
        sink.published.clear()
        await engine.fire(["hazard:H1"])  # the old timer, claimed before the closure's commit
        return first, [n.notice_id for n in sink.published]

    first, again = asyncio.run(scenario())
    assert any(":major-reminders:d7:" in n for n in first)
    assert again == []


def test_without_an_arrival_time_the_events_are_applied_first_as_before(rules: Rules) -> None:
    closure = closed(at("2026-09-23 10:00"))
    sent = asyncio.run(reported_then(rules, closure, None, at("2026-09-23 12:00")))
    assert sent and all(n.startswith("hazard:H1:closure:") for n in sent)


def test_a_closure_made_before_the_reminder_was_due_cancels_it_even_if_it_came_late(
    rules: Rules,
) -> None:
    """Its publisher could not reach Kafka for a while: what counts is when it happened."""
    closure = closed(at("2026-09-23 08:00"))
    sent = asyncio.run(
        reported_then(rules, closure, at("2026-09-23 10:00"), at("2026-09-23 10:30"))
    )
    assert sent and all(n.startswith("hazard:H1:closure:") for n in sent)
    assert sorted(sent) == sorted(simulated(rules, closure))


def test_a_closure_applied_more_than_an_hour_after_it_came_is_a_gap_as_before(
    rules: Rules,
) -> None:
    """The engine was down: what was due before it is caught up without a burst, which
    for a closed hazard is nothing but the closure."""
    closure = closed(at("2026-09-23 10:00"))
    sent = asyncio.run(
        reported_then(rules, closure, at("2026-09-23 10:00"), at("2026-09-23 12:00"))
    )
    assert sent and all(n.startswith("hazard:H1:closure:") for n in sent)


def test_a_timer_that_fired_late_sends_each_step_as_on_time(tmp_path: Path) -> None:
    """Minute-scale steps (the chaos run's policy): the reminder's timer fires 90 s after
    the deadline it reminds of (it waited for its hazard's events). The reminder, the
    overdue letter and its repeat a minute later all go, as on time and as simulate
    says; `evaluate` at once would have dropped the reminder and sent one letter."""
    rules = load_config(assemble_config(tmp_path / "config")).rules()
    t0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a working day
    report = reported(
        "H1",
        t0,
        t0 + timedelta(minutes=3),
        level="general",
        industry="hazardous_chemicals",
        unit_id="U1",
        responsible=("P1",),
    )
    unit = unit_upserted("U1", t0 - timedelta(days=1))
    fired_at = t0 + timedelta(minutes=4, seconds=30)

    async def scenario() -> list[str]:
        store, sink = RacingStore(), RecordingSink()
        clock = FakeClock(t0)
        engine = Engine(rules, store, sink, clock)
        await engine.handle([record(unit, None), record(report, t0, 1)])
        due = store.timers["hazard:H1"]
        sink.published.clear()
        clock.set(fired_at)
        await engine.fire(["hazard:H1"], {"hazard:H1": due})
        return [f"{n.notice_id}#{n.occurrence}" for n in sink.published]

    sent = asyncio.run(scenario())
    events = [parse_event(json.dumps(e).encode()) for e in (unit, report)]
    expected = [
        f"{n.notice_id}#{n.occurrence}"
        for n in simulate(events, rules, fired_at)
        if n.subject == "H1" and n.kind != "report"
    ]
    assert len(set(expected)) >= 3, expected
    assert sorted(sent) == sorted(expected)
