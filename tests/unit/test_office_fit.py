"""Escalations that fit the office (issue 14), on fixed dates of the 2026 calendar:
working hours on working days, the lifecycle's own notices, no burst after a late event.
Through simulate, i.e. the engine's service layer on in-memory stores and a virtual clock."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from contracts.registry import parse_event
from services.config.load import load_config
from services.core.evaluate import PlannedNotice, Rules
from services.simulate import simulate
from tests.helpers import at, hazard_event, reported, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
UNIT = unit_upserted("U1", at("2026-01-05 08:00"))


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def run(rules: Rules, events: list[dict], until: str, groups: bool = False) -> list[PlannedNotice]:
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    notices = simulate(parsed, rules, at(until))
    hazard = [n for n in notices if n.notice_id.startswith("hazard:")]
    return [n for n in hazard if groups or n.recipient.role != "group"]


def when(notice: PlannedNotice) -> str:
    return notice.at.isoformat()[:16]


def firsts(notices: list[PlannedNotice], kind: str) -> list[tuple[str, str]]:
    """(local time, action or step) of each first sending of `kind`, one per notice."""
    seen: dict[str, tuple[str, str]] = {}
    for n in notices:
        if n.kind == kind and n.occurrence == 0 and n.notice_id not in seen:
            seen[n.notice_id] = (when(n), n.action or n.notice_id.split(":")[-2])
    return list(seen.values())


def recipients(notices: list[PlannedNotice], kind: str) -> set[tuple[str, str]]:
    return {(n.recipient.person.id, n.recipient.role) for n in notices if n.kind == kind}


@pytest.mark.parametrize(
    ("deadline", "letter"),
    [
        (date(2026, 11, 20), "2026-11-23T09:00"),  # a Friday: Monday morning
        (date(2026, 9, 30), "2026-10-08T09:00"),  # the eve of National Day: after it
        (date(2026, 10, 10), "2026-10-12T09:00"),  # a make-up Saturday: the next Monday
        (date(2026, 2, 13), "2026-02-14T09:00"),  # before Spring Festival: make-up Sat 02-14
    ],
)
def test_the_letter_goes_at_nine_on_the_first_working_day_after_the_deadline(
    rules: Rules, deadline: date, letter: str
) -> None:
    hazard = reported("H1", at(f"{deadline.replace(day=1)} 10:00"), deadline)
    notices = run(rules, [UNIT, hazard], f"{deadline.year}-12-31 00:00")
    assert firsts(notices, "escalation")[0] == (letter, "letter")


def test_every_notice_but_the_major_report_goes_in_office_hours_on_working_days(
    rules: Rules,
) -> None:
    hazard = reported("H1", at("2026-09-01 23:30"), date(2026, 9, 30), responsible=("S1",))
    notices = run(rules, [UNIT, hazard], "2026-12-31 00:00")
    calendar = rules.timing.calendar
    for n in notices:
        local = n.at.astimezone(rules.timing.zone)
        if n.kind == "report":
            assert when(n) == "2026-09-01T23:30"  # immediate, at night
            continue
        assert calendar.is_working_day(local.date()), (n.notice_id, local)
        assert "09:00" <= local.strftime("%H:%M") < "17:30", (n.notice_id, local)


def test_repeats_count_working_days_across_the_holiday(rules: Rules) -> None:
    hazard = reported("H1", at("2026-09-01 10:00"), date(2026, 9, 29), responsible=("S1",))
    notices = run(rules, [UNIT, hazard], "2026-10-20 00:00")
    letter = [n for n in notices if n.action == "letter" and n.recipient.person.id == "S1"]
    assert [(when(n), n.occurrence) for n in letter] == [
        ("2026-09-30T09:00", 0),
        ("2026-10-08T09:00", 1),  # 10-01..10-07 off
        ("2026-10-09T09:00", 2),
        ("2026-10-10T09:00", 3),  # the make-up Saturday
    ]


def test_reopened_tells_the_unit_and_the_department_and_runs_the_ladder_anew(
    rules: Rules,
) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("S1",)),
        hazard_event(
            "hazard.rectified", "H1", at("2026-09-20 10:00"), rectified_at=at("2026-09-20 10:00")
        ),
        hazard_event(
            "hazard.reopened",
            "H1",
            at("2026-09-24 15:00"),
            reason="验收不通过：报警器仍未标定",
            deadline=date(2026, 10, 30),
        ),
    ]
    notices = run(rules, events, "2026-11-10 00:00")
    reopened = [n for n in notices if n.kind == "reopened"]
    assert {(n.recipient.person.id, n.recipient.role) for n in reopened} == {
        ("S1", "responsible"),
        ("R1", "principal"),
        ("emergency-duty", "department"),
    }
    assert when(reopened[0]) == "2026-09-24T15:00"
    assert reopened[0].facts["reason"] == "验收不通过：报警器仍未标定"
    assert reopened[0].facts["deadline"].startswith("2026-10-30")
    assert reopened[0].facts["old_deadline"].startswith("2026-09-30")
    # The old deadline's ladder never starts; the new one's does, on Monday 11-02.
    assert firsts(notices, "escalation") == [
        ("2026-11-02T09:00", "letter"),
        ("2026-11-04T09:00", "circular"),
    ]


def test_a_deadline_extension_after_the_circular_tells_everyone_and_goes_on_up(
    rules: Rules,
) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("S1",)),
        hazard_event(
            "hazard.updated",
            "H1",
            at("2026-10-12 16:00"),
            deadline=date(2026, 10, 30),
            reason="延期整改",
        ),
    ]
    notices = run(rules, events, "2026-12-31 00:00")
    before = [n for n in notices if n.at < at("2026-10-12 16:00")]
    told_before = {(n.recipient.person.id, n.recipient.role) for n in before}
    changed = [n for n in notices if n.kind == "deadline_changed"]
    assert {(n.recipient.person.id, n.recipient.role) for n in changed} == told_before
    assert changed[0].facts["old_deadline"].startswith("2026-09-30")
    assert changed[0].facts["deadline"].startswith("2026-10-30")
    # Letter and circular went for the old deadline and are not sent again; the new
    # deadline's interview (+7 working days) and exposure (+15) follow.
    assert firsts(notices, "escalation") == [
        ("2026-10-08T09:00", "letter"),
        ("2026-10-10T09:00", "circular"),
        ("2026-11-10T09:00", "interview"),
        ("2026-11-20T09:00", "exposure"),
    ]


def test_a_report_applied_24_days_late_sends_no_burst(rules: Rules) -> None:
    late = reported("H1", at("2026-09-20 10:00"), date(2026, 9, 30), responsible=("S1",))
    other = unit_upserted("U2", at("2026-10-14 10:00"))  # moves the clock past the report
    notices = run(rules, [UNIT, other, late], "2026-10-14 12:00")
    assert not [n for n in notices if n.kind == "reminder"]
    escalations = [n for n in notices if n.kind == "escalation"]
    # Letter (10-08) and circular (10-10) were both due: only the circular goes, as a first
    # sending (no repeat label), saying how overdue the hazard is now.
    assert {(n.action, n.occurrence) for n in escalations} == {("circular", 0)}
    assert {n.facts["days_overdue"] for n in escalations} == {14}
    assert all(when(n) == "2026-10-14T10:00" for n in escalations)


def test_a_major_hazard_without_a_deadline_is_reported_incomplete(rules: Rules) -> None:
    hazard = reported("H1", at("2026-11-05 16:00"), None, responsible=())
    notices = run(rules, [UNIT, hazard], "2026-11-30 00:00")
    incomplete = [n for n in notices if n.kind == "incomplete"]
    assert {n.recipient.role for n in incomplete} == {"department", "committee_office"}
    assert {when(n) for n in incomplete} == {"2026-11-06T09:00"}  # next working morning
    assert incomplete[0].facts["missing"] == ["deadline", "responsible"]


def test_a_complete_major_hazard_is_not_reported_incomplete(rules: Rules) -> None:
    hazard = reported("H1", at("2026-11-05 16:00"), None)
    fixed = hazard_event("hazard.updated", "H1", at("2026-11-05 18:00"), deadline=date(2026, 12, 1))
    notices = run(rules, [UNIT, hazard, fixed], "2026-11-30 00:00")
    assert not [n for n in notices if n.kind == "incomplete"]


def test_listed_supervision_stops_at_rectified_and_the_authority_gets_the_closure(
    rules: Rules,
) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-11-02 10:00"), date(2026, 12, 30)),
        hazard_event("hazard.supervision_listed", "H1", at("2026-11-02 11:00"), authority="county"),
        hazard_event(
            "hazard.rectified", "H1", at("2026-11-20 10:00"), rectified_at=at("2026-11-20 10:00")
        ),
        hazard_event(
            "hazard.closed", "H1", at("2026-12-04 10:00"), closed_at=at("2026-12-04 10:00")
        ),
    ]
    notices = run(rules, events, "2026-12-31 00:00")
    weeks = sorted({when(n)[:10] for n in notices if n.kind == "supervision"})
    assert weeks == ["2026-11-09", "2026-11-16"]  # none after 11-20
    assert [when(n)[:10] for n in notices if n.kind == "verification"][:1] == ["2026-11-25"]
    assert ("county-aqb", "authority") in recipients(notices, "closure")


def test_the_work_group_gets_one_post_per_notice_mentioning_the_officials(rules: Rules) -> None:
    hazard = reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("S1",))
    notices = run(rules, [UNIT, hazard], "2026-10-13 00:00", groups=True)
    posts = [n for n in notices if n.recipient.role == "group"]
    # Only notices to government roles are posted, and only their first sending: the report
    # and the reminders go to the unit alone; the letter and the circular to officials too.
    assert [(when(n), n.action, n.occurrence) for n in posts] == [
        ("2026-10-08T09:00", "letter", 0),
        ("2026-10-10T09:00", "circular", 0),
    ]
    assert {p.recipient.person.id for p in posts} == {"group-wecom"}
    assert [p.channels[0].channel for p in posts] == ["wecom", "wecom"]
    circular = posts[1].facts["mentions"]
    officials = {
        (n.recipient.person.id, n.recipient.role)
        for n in notices
        if n.action == "circular" and n.occurrence == 0 and n.recipient.role != "group"
    }
    government = {"department", "department_head", "committee_office", "leader", "authority"}
    assert {(m["person_id"], m["role"]) for m in circular} == {
        pair for pair in officials if pair[1] in government
    }
