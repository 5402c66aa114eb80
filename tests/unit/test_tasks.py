"""Supervised dated tasks (督办事项, issue 15 deliverable 2): the task lifecycle in the core
(duplicates, stale, out-of-order and early events), and the example policy's task ladder
through `duban simulate` (the engine's own service layer on a virtual clock)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contracts.notice import TASK_FACT_KEYS
from contracts.registry import InvalidEvent, make_event, parse_event
from contracts.topics import DEFAULT_TOPICS
from services.config.load import load_config
from services.core.advance import hazard_of_notice, subject_of_notice
from services.core.evaluate import Rules
from services.core.facts import task_facts
from services.core.policy import Match
from services.core.reducer import Fact, apply
from services.core.state import HazardState
from services.core.timeline import matches
from services.inbound import route
from services.simulate import notice_line, simulate
from tests.helpers import at, event

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
ZONE = ZoneInfo("Asia/Shanghai")
DEPT = {"kind": "department", "id": "emergency"}


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def assigned(
    task_id: str,
    time: datetime,
    deadline: date | datetime,
    owner: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """task.assigned, as a publisher sends it."""
    data = {
        "task_id": task_id,
        "title": "报送安全生产专项整治方案",
        "owner": owner or DEPT,
        "deadline": deadline.isoformat(),
        "assigned_by": "县安委会办公室",
        "reference": "青安委〔2026〕3号",
        **extra,
    }
    return event("task.assigned", task_id, time, data)


def task_event(type_: str, task_id: str, time: datetime, **data: Any) -> dict[str, Any]:
    body = {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in data.items()}
    return event(type_, task_id, time, {"task_id": task_id, **body})


def fact(envelope: dict[str, Any]) -> Fact:
    routed = route(parse_event(json.dumps(envelope).encode()))
    assert routed.fact is not None
    return routed.fact


def fold(envelopes: list[dict[str, Any]]) -> tuple[HazardState, list[str]]:
    state: HazardState | None = None
    outcomes = []
    for envelope in envelopes:
        result = apply(state, fact(envelope), ZONE)
        state = result.state
        outcomes.append(result.outcome)
    assert state is not None
    return state, outcomes


# ------------------------------------------------------------------ the contract


def test_task_events_validate_and_go_to_the_task_topic() -> None:
    parsed = parse_event(json.dumps(assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))))
    assert parsed.type == "task.assigned" and parsed.subject == "T1"
    assert DEFAULT_TOPICS.for_type("task.completed") == "task.events"
    assert "task.events" in DEFAULT_TOPICS.inbound()


@pytest.mark.parametrize(
    ("envelope", "says"),
    [
        (
            assigned(
                "T1", at("2026-03-10 10:00"), date(2026, 3, 29), owner={"kind": "x", "id": "a"}
            ),
            "owner.kind",
        ),
        (task_event("task.updated", "T1", at("2026-03-11 10:00"), reason="无变化"), "at least one"),
        (task_event("task.progress", "T1", at("2026-03-11 10:00"), percent=120), "percent"),
        (task_event("task.cancelled", "T1", at("2026-03-11 10:00"), reason=" "), "reason"),
    ],
)
def test_bad_task_events_are_refused_with_the_field_named(
    envelope: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(envelope))
    assert says in caught.value.reason


def test_a_task_without_a_deadline_is_refused() -> None:
    envelope = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))
    del envelope["data"]["deadline"]
    with pytest.raises(InvalidEvent, match="deadline"):
        parse_event(json.dumps(envelope))


# ------------------------------------------------------------------ the lifecycle in the core


def test_an_assigned_task_is_kept_in_the_hazards_shape() -> None:
    envelope = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29), listed="county")
    state, outcomes = fold([envelope])
    assert outcomes == ["applied"]
    assert (state.kind, state.known, state.status) == ("task", True, "reported")
    assert (state.owner_kind, state.owner_id) == ("department", "emergency")
    assert state.deadline == datetime(2026, 3, 29, 23, 59, 59, tzinfo=ZONE)
    assert state.reported_at == at("2026-03-10 10:00")
    assert (state.assigned_by, state.reference) == ("县安委会办公室", "青安委〔2026〕3号")
    assert state.listed_by == "county" and state.unit is None


def test_a_duplicate_changes_nothing() -> None:
    envelope = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))
    progress = task_event("task.progress", "T1", at("2026-03-12 10:00"), percent=40)
    state, outcomes = fold([envelope, progress, progress, envelope])
    assert outcomes == ["applied", "applied", "duplicate", "duplicate"]
    assert (state.status, state.percent) == ("rectifying", 40)


def test_events_before_the_assignment_wait_for_it_and_apply_in_time_order() -> None:
    completed = task_event(
        "task.completed", "T1", at("2026-03-20 16:00"), completed_at=at("2026-03-20 15:30")
    )
    progress = task_event("task.progress", "T1", at("2026-03-15 10:00"), percent=50)
    first = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))
    state, outcomes = fold([completed, progress, first])
    assert outcomes == ["parked", "parked", "applied"]
    assert state.status == "closed" and state.closed_at == at("2026-03-20 15:30")
    assert state.percent == 50 and not state.parked


def test_a_stale_event_never_regresses_the_task() -> None:
    first = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))
    done = task_event(
        "task.completed", "T1", at("2026-03-20 16:00"), completed_at=at("2026-03-20 15:30")
    )
    late_progress = task_event("task.progress", "T1", at("2026-03-18 10:00"), percent=80)
    state, outcomes = fold([first, done, late_progress])
    assert outcomes == ["applied", "applied", "stale"]
    assert state.status == "closed"


def test_an_older_update_loses_to_a_newer_one_field_by_field() -> None:
    first = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))
    newer = task_event("task.updated", "T1", at("2026-03-15 10:00"), deadline="2026-04-10")
    older = task_event(
        "task.updated",
        "T1",
        at("2026-03-12 10:00"),
        deadline="2026-04-01",
        owner={"kind": "person", "id": "P-9"},
    )
    state, outcomes = fold([first, newer, older])
    assert outcomes == ["applied", "applied", "applied"]  # the owner is news, the deadline not
    assert state.deadline == datetime(2026, 4, 10, 23, 59, 59, tzinfo=ZONE)
    assert (state.owner_kind, state.owner_id) == ("person", "P-9")
    assert state.previous_deadline == datetime(2026, 3, 29, 23, 59, 59, tzinfo=ZONE)
    only_old = task_event("task.updated", "T1", at("2026-03-11 10:00"), deadline="2026-03-30")
    again, outcome = fold([first, newer, only_old])
    assert outcome[-1] == "stale" and again.deadline == state.deadline


def test_a_cancelled_task_stays_cancelled_and_a_second_assignment_is_ignored() -> None:
    first = assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))
    cancel = task_event("task.cancelled", "T1", at("2026-03-12 10:00"), reason="并入其他事项")
    done = task_event(
        "task.completed", "T1", at("2026-03-13 10:00"), completed_at=at("2026-03-13 09:00")
    )
    again = assigned("T1", at("2026-03-14 10:00"), date(2026, 4, 29))
    state, outcomes = fold([first, cancel, done, again])
    assert outcomes == ["applied", "applied", "ignored", "ignored"]
    assert state.status == "cancelled"
    assert state.deadline == datetime(2026, 3, 29, 23, 59, 59, tzinfo=ZONE)


def test_task_notice_ids_route_acknowledgements_to_the_task() -> None:
    notice_id = "task:T-1:task-overdue:letter:20260329T155959Z"
    assert subject_of_notice(notice_id) == ("task", "T-1")
    assert hazard_of_notice(notice_id) is None
    assert subject_of_notice("hazard:H:a:b:c") == ("hazard", "H")
    ack = make_event(
        "notice.acknowledged",
        "urn:duban:ack",
        notice_id,
        {
            "notice_id": notice_id,
            "person_id": "emergency-duty",
            "acknowledged_at": at("2026-04-01 10:00"),
        },
        time=at("2026-04-01 10:00"),
    )
    routed = route(ack)
    assert routed.entity == "task:T-1" and routed.ack is not None
    assert (
        route(
            parse_event(json.dumps(assigned("T-1", at("2026-03-10 10:00"), date(2026, 3, 29))))
        ).entity
        == "task:T-1"
    )


def test_task_rules_and_hazard_rules_never_cross() -> None:
    task, _ = fold([assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))])
    assert matches(Match(subject="task"), task)
    assert not matches(Match(), task)  # a rule without `subject` is for hazards
    assert matches(Match(subject="task", listed=False), task)
    with pytest.raises(ValidationError, match="only hazards"):
        Match(subject="task", level="major")


def test_task_facts_name_the_owner_and_count_the_days(rules: Rules) -> None:
    state, _ = fold([assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 29))])
    before = task_facts(state, None, rules, at("2026-03-26 09:00"))
    assert before["owner"] == "应急管理办公室" and before["subject_kind"] == "task"
    assert (before["days_left"], before["days_overdue"]) == (3, None)
    after = task_facts(state, None, rules, at("2026-04-01 09:00"))
    assert (after["days_left"], after["days_overdue"]) == (None, 3)
    assert after["task_id"] == "T1" and after["reference"] == "青安委〔2026〕3号"
    assert set(after) == set(TASK_FACT_KEYS)  # what contracts document for publishers


# ------------------------------------------------------------------ the example ladder, simulated


def run(rules: Rules, events: list[dict[str, Any]], until: str) -> list[dict[str, Any]]:
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    rows = [notice_line(n) for n in simulate(parsed, rules, at(until))]
    return [r for r in rows if r["notice_id"].startswith("task:") and r["role"] != "group"]


def firsts(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(local time, action or kind, step) of each notice's first sending."""
    seen: set[str] = set()
    out = []
    for row in rows:
        if row["occurrence"] == 0 and row["notice_id"] not in seen:
            seen.add(row["notice_id"])
            step = row["notice_id"].split(":")[-2]
            out.append((row["at"][:16], row["action"] or row["kind"], step))
    return out


def test_a_department_task_gets_reminders_then_the_ladder_on_working_days(rules: Rules) -> None:
    # Deadline Friday 2026-03-27; Qingming (04-04 to 04-06) is not counted.
    rows = run(
        rules, [assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 27))], "2026-04-30 00:00"
    )
    assert firsts(rows) == [
        ("2026-03-24T09:00", "reminder", "d3"),
        ("2026-03-26T09:00", "reminder", "d1"),
        ("2026-03-30T09:00", "letter", "letter"),
        ("2026-04-01T09:00", "circular", "circular"),
        ("2026-04-08T09:00", "interview", "interview"),
    ]
    letter = {(r["recipient"], r["role"]) for r in rows if r["action"] == "letter"}
    assert letter == {("emergency-duty", "department")}
    interview = {(r["recipient"], r["role"]) for r in rows if r["action"] == "interview"}
    assert interview == {
        ("emergency-duty", "department"),
        ("emergency-head", "department_head"),
        ("aqb-duty", "committee_office"),
        ("leader-safety", "leader"),
    }
    assert all(r["subject"] == "T1" for r in rows)
    # unacknowledged steps repeat on working days only, at most three times
    repeats = [
        r["at"][:10] for r in rows if r["action"] == "letter" and r["recipient"] == "emergency-duty"
    ]
    assert repeats == ["2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02"]


def test_completion_stops_the_ladder_and_tells_the_owner(rules: Rules) -> None:
    events = [
        assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 27)),
        task_event(
            "task.completed", "T1", at("2026-04-02 10:00"), completed_at=at("2026-04-02 09:30")
        ),
    ]
    rows = run(rules, events, "2026-04-30 00:00")
    assert firsts(rows)[-1] == ("2026-04-02T10:00", "closure", "completed")
    assert [r["kind"] for r in rows if r["at"] >= "2026-04-02T10:00"] == ["closure"]
    closure = [(r["recipient"], r["role"]) for r in rows if r["kind"] == "closure"]
    assert closure == [("emergency-duty", "department")]
    assert "interview" not in {r["action"] for r in rows}


def test_cancellation_stops_everything(rules: Rules) -> None:
    events = [
        assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 27)),
        task_event("task.cancelled", "T1", at("2026-03-25 11:00"), reason="并入县级专项行动"),
    ]
    rows = run(rules, events, "2026-04-30 00:00")
    assert firsts(rows) == [("2026-03-24T09:00", "reminder", "d3")]


def test_a_person_owned_task_goes_to_that_person_known_by_person_upserted(rules: Rules) -> None:
    person = event(
        "person.upserted",
        "P-GRID-07",
        at("2026-03-01 09:00"),
        {"person_id": "P-GRID-07", "name": "赵网格", "mobile": "13900000007", "title": "网格员"},
    )
    owner = {"kind": "person", "id": "P-GRID-07"}
    events = [person, assigned("T2", at("2026-03-10 10:00"), date(2026, 3, 27), owner=owner)]
    rows = run(rules, events, "2026-03-31 00:00")
    reminders = {(r["recipient"], r["role"], r["channel"]) for r in rows if r["kind"] == "reminder"}
    assert reminders == {("P-GRID-07", "responsible", "aliyun_sms")}
    assert {r["recipient"] for r in rows if r["action"] == "letter"} == {"P-GRID-07"}


def test_a_person_owner_unknown_to_everyone_falls_back_to_the_committee_office(
    rules: Rules,
) -> None:
    owner = {"kind": "person", "id": "P-NOBODY"}
    parsed = [
        parse_event(
            json.dumps(assigned("T3", at("2026-03-10 10:00"), date(2026, 3, 27), owner=owner))
        )
    ]
    warnings: list[str] = []
    rows = [notice_line(n) for n in simulate(parsed, rules, at("2026-03-25 00:00"), warnings)]
    task_rows = [r for r in rows if r["subject"] == "T3" and r["role"] != "group"]
    assert {(r["recipient"], r["role"]) for r in task_rows} == {("aqb-duty", "committee_office")}
    assert any("P-NOBODY" in w for w in warnings)


def test_a_unit_owned_task_goes_to_the_units_principal(rules: Rules) -> None:
    from tests.helpers import unit_upserted

    owner = {"kind": "unit", "id": "U1"}
    events = [
        unit_upserted("U1", at("2026-03-01 08:00")),
        assigned("T4", at("2026-03-10 10:00"), date(2026, 3, 27), owner=owner),
    ]
    rows = run(rules, events, "2026-04-02 00:00")
    assert {(r["recipient"], r["role"]) for r in rows if r["kind"] == "reminder"} == {
        ("R1", "principal")
    }
    circular = {(r["recipient"], r["role"]) for r in rows if r["action"] == "circular"}
    # the unit's industry leads to its department (hazardous chemicals: emergency)
    assert ("emergency-head", "department_head") in circular


# ------------------------------------------------------------------ the digests


def test_the_digests_count_open_and_overdue_tasks_by_owner(rules: Rules) -> None:
    person = {"kind": "person", "id": "leader-safety"}
    events = [
        assigned("T1", at("2026-03-02 10:00"), date(2026, 3, 20)),
        assigned("T2", at("2026-03-02 10:05"), date(2026, 4, 20)),
        assigned("T3", at("2026-03-02 10:10"), date(2026, 3, 10), owner=person),
        assigned("T4", at("2026-03-02 10:15"), date(2026, 3, 12)),
        task_event(
            "task.completed", "T4", at("2026-03-11 10:00"), completed_at=at("2026-03-11 09:00")
        ),
    ]
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    notices = list(simulate(parsed, rules, at("2026-04-01 12:00")))
    weekly = next(n for n in notices if n.notice_id == "digest:weekly:2026-W12")
    assert weekly.facts["tasks_by_owner"] == [
        {
            "owner_kind": "department",
            "owner_id": "emergency",
            "owner_name": "应急管理办公室",
            "open": 2,
            "overdue": 1,
        },
        {
            "owner_kind": "person",
            "owner_id": "leader-safety",
            "owner_name": "分管安全副镇长",
            "open": 1,
            "overdue": 1,
        },
    ]
    own = next(n for n in notices if n.notice_id == "digest:monthly:2026-03:emergency")
    assert [(r["owner_id"], r["open"], r["overdue"]) for r in own.facts["tasks_by_owner"]] == [
        ("emergency", 2, 1)
    ]
    housing = next(n for n in notices if n.notice_id == "digest:monthly:2026-03:housing")
    assert housing.facts["tasks_by_owner"] == []


def test_tasks_by_owner_counts_what_a_count_over_the_states_gives(rules: Rules) -> None:
    from services.core.task_rows import tasks_by_owner

    now = at("2026-05-01 12:00")
    owners = [DEPT, {"kind": "department", "id": "housing"}, {"kind": "person", "id": "P-1"}]
    states = []
    for n in range(60):
        envelopes = [
            assigned(
                f"T{n}",
                at("2026-03-01 10:00"),
                date(2026, 3, 1 + n % 28) if n % 2 else date(2026, 6, 1),
                owner=owners[n % 3],
            )
        ]
        if n % 5 == 0:
            envelopes.append(
                task_event(
                    "task.completed",
                    f"T{n}",
                    at("2026-04-01 10:00"),
                    completed_at=at("2026-04-01 10:00"),
                )
            )
        if n % 7 == 0:
            envelopes.append(
                task_event("task.cancelled", f"T{n}", at("2026-04-02 10:00"), reason="撤销")
            )
        states.append(fold(envelopes)[0])
    expected: dict[str, list[int]] = {}
    for s in states:
        if s.status in ("reported", "rectifying"):
            row = expected.setdefault(str(s.owner_id), [0, 0])
            row[0] += 1
            row[1] += s.deadline is not None and s.deadline < now
    rows = tasks_by_owner(states, {}, rules, now)
    assert {r.owner_id: [r.open, r.overdue] for r in rows} == expected
    assert [r.overdue for r in rows] == sorted((r.overdue for r in rows), reverse=True)


def test_an_acknowledged_task_notice_stops_its_repeats_to_that_person(rules: Rules) -> None:
    notice_id = "task:T1:task-overdue:letter:20260327T155959Z"
    ack = event(
        "notice.acknowledged",
        notice_id,
        at("2026-03-30 10:00"),
        {
            "notice_id": notice_id,
            "person_id": "emergency-duty",
            "acknowledged_at": "2026-03-30T10:00:00+08:00",
        },
    )
    events = [assigned("T1", at("2026-03-10 10:00"), date(2026, 3, 27)), ack]
    rows = run(rules, events, "2026-04-03 00:00")
    letters = [r["occurrence"] for r in rows if r["notice_id"] == notice_id]
    assert letters == [0]  # no repeat after the acknowledgement
    circulars = [r for r in rows if r["action"] == "circular"]
    assert {r["recipient"] for r in circulars} >= {"emergency-duty"}  # the ladder goes on


def test_a_person_owner_known_only_to_the_directory_is_reached(rules: Rules) -> None:
    owner = {"kind": "person", "id": "aqb-director"}
    rows = run(
        rules,
        [assigned("T5", at("2026-03-10 10:00"), date(2026, 3, 27), owner=owner)],
        "2026-03-27 00:00",
    )
    assert {(r["recipient"], r["role"]) for r in rows} == {("aqb-director", "responsible")}
    assert [step for _, _, step in firsts(rows)] == ["d3", "d1"]
