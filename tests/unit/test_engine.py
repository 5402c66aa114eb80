"""The engine's service layer with fakes (fast tier), and its FastStream wiring in memory."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker

from services.config.load import load_config
from services.core.evaluate import Rules
from services.engine.app import create_engine
from services.engine.work import Engine
from services.guard import Record
from services.settings import Settings
from tests.fakes import FakeClock, RacingStore, RecordingSink
from tests.helpers import at, hazard_event, reported, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def record(event: dict | bytes, offset: int = 0) -> Record:
    value = event if isinstance(event, bytes) else json.dumps(event).encode()
    return Record(value, "hazard.events", 0, offset)


def engine(rules: Rules) -> tuple[Engine, RacingStore, RecordingSink, FakeClock]:
    store, sink, clock = RacingStore(), RecordingSink(), FakeClock(at("2026-09-01 10:00"))
    return Engine(rules, store, sink, clock), store, sink, clock


async def test_a_major_report_publishes_notices_and_plans_the_next_timer(rules: Rules) -> None:
    eng, store, sink, _ = engine(rules)
    await eng.handle(
        [
            record(unit_upserted("U1", at("2026-08-01 08:00"))),
            record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))),
        ]
    )
    assert [(n.kind, n.recipient.person.id) for n in sink.published] == [
        ("report", "R1"),
        ("report", "C1"),
    ]
    assert store.timers["hazard:H1"] == at("2026-09-23 09:00")  # the 7-day reminder


async def test_invalid_records_are_dead_lettered_and_the_batch_goes_on(rules: Rules) -> None:
    eng, _, sink, _ = engine(rules)
    bad = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30), level="huge")
    report = await eng.handle(
        [record(b"[]"), record(bad), record(reported("H2", at("2026-09-01 09:00"), None))]
    )
    assert report.rejected == 2
    assert [value for value, _ in sink.dead] == [b"[]", json.dumps(bad).encode()]
    assert "data.level" in sink.dead[1][1]
    assert {n.subject for n in sink.published} == {"H2"}


async def test_a_redelivered_batch_changes_nothing(rules: Rules) -> None:
    eng, store, sink, _ = engine(rules)
    batch = [record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30)))]
    await eng.handle(batch)
    before = dict(store.docs)
    report = await eng.handle(batch)
    assert report.outcomes == {"duplicate": 1}
    assert store.docs["duban:hazard:H1"][1] == before["duban:hazard:H1"][1]
    # No unit on file: one report, to the committee office (and its post in the officials'
    # work-chat group); the redelivery adds nothing.
    assert [n.recipient.role for n in sink.published] == ["committee_office", "group"]


async def test_a_lost_race_is_retried_against_the_newer_state(rules: Rules) -> None:
    eng, store, _, _ = engine(rules)
    store.conflict_next.append("duban:hazard:H1")
    report = await eng.handle([record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30)))])
    # The winner of the race applied the same event: the retry sees it as a duplicate.
    assert report.conflicts == 1
    assert report.outcomes == {"duplicate": 1}
    assert json.loads(store.docs["duban:hazard:H1"][1])["known"] is True


async def test_a_timer_after_close_sends_nothing_and_clears_itself(rules: Rules) -> None:
    eng, store, sink, clock = engine(rules)
    await eng.handle(
        [
            record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))),
            record(
                hazard_event(
                    "hazard.closed", "H1", at("2026-09-01 09:30"), closed_at=at("2026-09-01 09:30")
                )
            ),
        ]
    )
    published = len(sink.published)
    clock.set(at("2026-09-23 09:00"))
    await eng.advance_hazards({"H1": []})
    assert len(sink.published) == published
    assert "hazard:H1" not in store.timers


async def test_the_subscriber_hands_raw_batches_to_the_engine_in_memory(rules: Rules) -> None:
    parts = create_engine(Settings(config_dir=EXAMPLE), rules=rules)
    eng, _, sink, _ = engine(rules)
    parts.engine = eng
    async with TestKafkaBroker(parts.broker) as broker:
        event = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))
        await broker.publish(json.dumps(event).encode(), "hazard.events", key=b"H1")
        await broker.publish(b"not json", "hazard.events", key=b"x")
    assert [(n.kind, n.recipient.role) for n in sink.published] == [
        ("report", "committee_office"),
        ("report", "group"),
    ]
    assert [reason[:8] for _, reason in sink.dead] == ["not JSON"]


async def test_an_event_the_core_fails_on_is_dead_lettered_not_retried_forever(
    rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    import services.engine.work as work

    real = work.advance

    def fragile(state, hazard_id, *args, **kwargs):
        if hazard_id == "H1":
            raise ValueError("cannot plan this one")
        return real(state, hazard_id, *args, **kwargs)

    monkeypatch.setattr(work, "advance", fragile)
    eng, store, sink, _ = engine(rules)
    poison = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))
    await eng.handle([record(poison), record(reported("H2", at("2026-09-01 09:00"), None))])
    assert sink.dead == [
        (
            json.dumps(poison).encode(),
            "engine could not process hazard H1: ValueError: cannot plan this one",
        )
    ]
    assert {n.subject for n in sink.published} == {"H2"}
    assert "duban:hazard:H1" not in store.docs


async def test_progress_notes_leave_the_timeline_and_its_timer_alone(rules: Rules) -> None:
    eng, store, sink, _ = engine(rules)
    await eng.handle([record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30)))])
    due, published = store.timers["hazard:H1"], len(sink.published)
    await eng.handle(
        [record(hazard_event("hazard.progress", "H1", at("2026-09-01 09:30"), percent=30))]
    )
    state = json.loads(store.docs["duban:hazard:H1"][1])
    assert (state["percent"], state["status"]) == (30, "rectifying")
    assert store.timers["hazard:H1"] == due and len(sink.published) == published
    # A new deadline does move it.
    await eng.handle(
        [
            record(
                hazard_event(
                    "hazard.updated", "H1", at("2026-09-01 10:00"), deadline=date(2026, 12, 1)
                )
            )
        ]
    )
    assert store.timers["hazard:H1"] == at("2026-11-24 09:00")


async def test_firing_timers_re_decides_hazards_duties_and_digests_at_the_clock(
    rules: Rules,
) -> None:
    eng, store, sink, clock = engine(rules)
    await eng.duties.bootstrap()
    await eng.handle(
        [
            record(unit_upserted("U1", at("2026-08-01 08:00"))),
            record(reported("H1", at("2026-09-01 09:00"), date(2026, 9, 30))),
        ]
    )
    clock.set(at("2026-09-23 09:00"))
    due = sorted(m for m, due_at in store.timers.items() if due_at <= clock.now())
    assert {m.partition(":")[0] for m in due} == {"hazard", "duty", "digest"}
    sink.published.clear()
    await eng.fire(due)
    kinds = {n.kind for n in sink.published}
    assert {"reminder", "digest"} <= kinds
    # Each fired timer was re-planned to a later moment in the same commit as its state.
    assert all(store.timers[m] > clock.now() for m in due)
