"""The example policy's timeline against fixed dates (the spec's notice table), through
simulate: the engine's service layer on in-memory stores and a virtual clock."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from contracts.registry import parse_event
from services.config.load import load_config
from services.core.evaluate import Rules
from services.simulate import notice_line, simulate
from tests.helpers import at, event, hazard_event, reported, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def run(rules: Rules, events: list[dict], until: str | datetime) -> list[dict]:
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    end = at(until) if isinstance(until, str) else until
    rows = [notice_line(n) for n in simulate(parsed, rules, end)]
    # Duties: test_duties; the work-chat group's posts: test_office_fit.
    return [r for r in rows if r["notice_id"].startswith("hazard:") and r["role"] != "group"]


def firsts(rows: list[dict], kind: str | None = None) -> list[tuple[str, str | None, str]]:
    """(local time, action or kind, step) of first sendings, one row per notice."""
    seen, out = set(), []
    for row in rows:
        if row["occurrence"] or row["notice_id"] in seen:
            continue
        if kind and row["kind"] != kind:
            continue
        seen.add(row["notice_id"])
        out.append((row["at"][:16], row["action"] or row["kind"], row["notice_id"].split(":")[-2]))
    return out


UNIT = unit_upserted("U1", at("2026-01-05 08:00"))


def test_major_hazard_report_goes_at_once_to_principal_and_controller(rules: Rules) -> None:
    rows = run(
        rules, [UNIT, reported("H1", at("2026-09-01 23:30"), date(2026, 12, 1))], "2026-09-02 00:00"
    )
    reports = [(r["recipient"], r["role"], r["channel"]) for r in rows if r["kind"] == "report"]
    # Unit-side roles are routed SMS first (channels.yaml); a major report is exempt from
    # the SMS quiet hours, so it goes at 23:30, not at 07:00.
    assert reports == [("R1", "principal", "aliyun_sms"), ("C1", "controller", "aliyun_sms")]
    assert rows[0]["at"].startswith("2026-09-01T23:30")
    assert rows[0]["deliver_at"].startswith("2026-09-01T23:30")


def test_reminders_7_3_1_days_before_with_principal_added_at_1_day(rules: Rules) -> None:
    hazard = reported("H1", at("2026-11-01 10:00"), date(2026, 12, 1), responsible=("S1",))
    rows = run(rules, [UNIT, hazard], "2026-12-01 12:00")
    reminders = [(r["at"][:16], r["recipient"]) for r in rows if r["kind"] == "reminder"]
    # d3 falls on Saturday 11-28 and moves to Monday 11-30 09:00, where d1 is due too:
    # one reminder goes, the later step's (d1, which adds the principal).
    assert reminders == [
        ("2026-11-24T09:00", "S1"),
        ("2026-11-30T09:00", "S1"),
        ("2026-11-30T09:00", "R1"),
    ]


def test_reminders_before_the_hazard_was_known_are_skipped(rules: Rules) -> None:
    hazard = reported("H1", at("2026-11-27 10:00"), date(2026, 12, 1), responsible=("S1",))
    rows = run(rules, [UNIT, hazard], "2026-12-01 12:00")
    assert [
        (r["at"][:10], r["notice_id"].split(":")[-2]) for r in rows if r["kind"] == "reminder"
    ] == [
        ("2026-11-30", "d1"),
        ("2026-11-30", "d1"),
    ]


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        # National Day 2026: 10-01..10-07 off, Sat 10-10 a make-up workday.
        (
            date(2026, 9, 30),
            [
                ("2026-10-08T09:00", "letter"),  # first working day after the holiday
                ("2026-10-10T09:00", "circular"),  # +3 wd: 10-08, 10-09, 10-10 (调休)
                ("2026-10-15T09:00", "interview"),  # +7 wd
                ("2026-10-27T09:00", "exposure"),  # +15 wd
            ],
        ),
        # Spring Festival 2026: 02-15..02-23 off, Sat 02-14 and Sat 02-28 make-up workdays.
        (
            date(2026, 2, 13),
            [
                ("2026-02-14T09:00", "letter"),  # Saturday 02-14 is a make-up workday
                ("2026-02-25T09:00", "circular"),  # 02-14 (调休), 02-24, 02-25
                ("2026-03-02T09:00", "interview"),  # …02-26, 02-27, 02-28 (调休), 03-02
                ("2026-03-12T09:00", "exposure"),
            ],
        ),
        # 2027 has no statutory data: Monday–Friday fallback, and no crash.
        (
            date(2027, 1, 29),
            [
                ("2027-02-01T09:00", "letter"),  # Friday's deadline: Monday morning
                ("2027-02-03T09:00", "circular"),
                ("2027-02-09T09:00", "interview"),
                ("2027-02-19T09:00", "exposure"),
            ],
        ),
    ],
)
def test_overdue_ladder_in_working_days(rules: Rules, deadline: date, expected: list) -> None:
    report_time = at(f"{deadline - timedelta(days=40)} 10:00")
    until = at(f"{deadline + timedelta(days=60)} 00:00")
    rows = run(rules, [UNIT, reported("H1", report_time, deadline)], until)
    ladder = [(t, a) for t, a, _ in firsts(rows, "escalation")]
    assert ladder == expected


def ack(notice_id: str, person: str, time: str) -> dict:
    return event(
        "notice.acknowledged",
        notice_id,
        at(time),
        {"notice_id": notice_id, "person_id": person, "acknowledged_at": at(time).isoformat()},
    )


LETTER = "hazard:H1:major-overdue:letter:20260930T155959Z"


def test_escalations_repeat_each_working_day_three_times_to_those_not_acknowledging(
    rules: Rules,
) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("S1",)),
        ack(LETTER, "R1", "2026-10-09 12:00"),
    ]
    rows = run(rules, events, "2026-10-14 00:00")
    letters = [
        (r["at"][:16], r["occurrence"], r["recipient"]) for r in rows if r["notice_id"] == LETTER
    ]
    # Repeats count working days at 09:00: Thu 10-08, Fri 10-09, Sat 10-10 (调休), then
    # Mon 10-12 (Sunday 10-11 is a rest day); R1 acknowledged on 10-09 at 12:00.
    assert letters == [
        ("2026-10-08T09:00", 0, "S1"),
        ("2026-10-08T09:00", 0, "R1"),
        ("2026-10-08T09:00", 0, "emergency-duty"),
        ("2026-10-09T09:00", 1, "S1"),
        ("2026-10-09T09:00", 1, "R1"),
        ("2026-10-09T09:00", 1, "emergency-duty"),
        ("2026-10-10T09:00", 2, "S1"),
        ("2026-10-10T09:00", 2, "emergency-duty"),
        ("2026-10-12T09:00", 3, "S1"),
        ("2026-10-12T09:00", 3, "emergency-duty"),
    ]


def test_acknowledging_never_stops_the_deadline_clock(rules: Rules) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30)),
        ack(LETTER, "R1", "2026-10-01 00:10"),
    ]
    rows = run(rules, events, "2026-10-11 00:00")
    assert [a for _, a, _ in firsts(rows, "escalation")] == ["letter", "circular"]
    assert any(r["recipient"] == "R1" and r["action"] == "circular" for r in rows)


def test_deadline_extension_replans_and_the_old_timer_sends_nothing(rules: Rules) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("S1",)),
        hazard_event(
            "hazard.updated",
            "H1",
            at("2026-09-29 18:00"),
            deadline=date(2026, 10, 30),
            reason="延期整改",
        ),
    ]
    rows = run(rules, events, "2026-11-03 00:00")
    # Friday 10-30's deadline: the letter goes on Monday morning.
    assert firsts(rows, "escalation") == [("2026-11-02T09:00", "letter", "letter")]
    reminder_days = sorted({r["at"][:10] for r in rows if r["kind"] == "reminder"})
    assert reminder_days == [
        "2026-09-23",
        "2026-09-28",  # d3 fell on Sunday 09-27
        "2026-09-29",
        "2026-10-23",
        "2026-10-27",
        "2026-10-29",
    ]


def test_close_before_deadline_sends_closure_and_cancels_everything(rules: Rules) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30), responsible=("S1",)),
        hazard_event(
            "hazard.rectified", "H1", at("2026-09-10 10:00"), rectified_at=at("2026-09-10 09:00")
        ),
        hazard_event(
            "hazard.closed", "H1", at("2026-09-11 15:00"), closed_at=at("2026-09-11 15:00")
        ),
    ]
    rows = run(rules, events, "2026-12-31 00:00")
    assert [r["kind"] for r in rows if r["at"] > "2026-09-02"] == ["closure"] * 3
    assert {r["recipient"] for r in rows if r["kind"] == "closure"} == {
        "S1",
        "R1",
        "emergency-duty",
    }


def test_verification_after_rectified_escalates_at_7_working_days(rules: Rules) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30)),
        hazard_event(
            "hazard.rectified", "H1", at("2026-09-14 10:00"), rectified_at=at("2026-09-14 10:00")
        ),
    ]
    rows = run(rules, events, "2026-12-31 00:00")
    verification = [(r["at"][:16], r["recipient"]) for r in rows if r["kind"] == "verification"]
    assert verification == [
        ("2026-09-17T09:00", "emergency-duty"),
        # +7 working days counts Sunday 09-20, a make-up workday (调休) for National Day.
        ("2026-09-22T09:00", "emergency-duty"),
        ("2026-09-22T09:00", "emergency-head"),
        ("2026-09-22T09:00", "aqb-duty"),
    ]
    assert not [r for r in rows if r["kind"] == "escalation"]  # rectified: no overdue ladder


def test_general_hazard_reminder_then_one_letter_to_the_department(rules: Rules) -> None:
    events = [UNIT, reported("H1", at("2026-11-02 10:00"), date(2026, 11, 20), level="general")]
    rows = run(rules, events, "2027-03-01 00:00")
    assert [(r["at"][:16], r["kind"], r["action"], r["recipient"]) for r in rows] == [
        ("2026-11-19T09:00", "reminder", None, "R1"),
        ("2026-11-23T09:00", "escalation", "letter", "emergency-duty"),  # Fri → next Monday
    ]


def test_listed_supervision_weekly_until_closed_and_authority_in_escalations(
    rules: Rules,
) -> None:
    events = [
        UNIT,
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30)),
        hazard_event("hazard.supervision_listed", "H1", at("2026-09-02 10:00"), authority="county"),
        hazard_event(
            "hazard.closed", "H1", at("2026-10-12 10:00"), closed_at=at("2026-10-12 10:00")
        ),
    ]
    rows = run(rules, events, "2026-12-31 00:00")
    weeks = sorted({r["at"][:10] for r in rows if r["kind"] == "supervision"})
    # 10-07 is in the National Day holiday: that week's notice goes on 10-08.
    assert weeks == ["2026-09-09", "2026-09-16", "2026-09-23", "2026-09-30", "2026-10-08"]
    letter_to = {r["recipient"] for r in rows if r["action"] == "letter"}
    assert "county-aqb" in letter_to
    # The listing authority is told of the close-out (摘牌).
    assert "county-aqb" in {r["recipient"] for r in rows if r["kind"] == "closure"}


def test_late_progress_cannot_reopen_a_closed_hazard_and_duplicates_change_nothing(
    rules: Rules,
) -> None:
    report = reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30))
    closed = hazard_event(
        "hazard.closed", "H1", at("2026-09-05 10:00"), closed_at=at("2026-09-05 10:00")
    )
    late = hazard_event("hazard.progress", "H1", at("2026-09-04 10:00"), percent=50)
    rows = run(rules, [UNIT, report, report, closed, late, closed], "2026-12-31 00:00")
    # R1 is both principal and responsible: one closure to R1, one to the department.
    assert [r["kind"] for r in rows] == ["report", "report", "closure", "closure"]


def test_unknown_industry_goes_to_the_committee_office(rules: Rules) -> None:
    events = [
        reported(
            "H1",
            at("2026-11-02 10:00"),
            date(2026, 11, 20),
            level="general",
            industry="space_mining",
            unit_id="U9",
        )
    ]
    rows = run(rules, events, "2027-01-01 00:00")
    letter = [r for r in rows if r["action"] == "letter"]
    assert [(r["recipient"], r["role"]) for r in letter] == [("aqb-duty", "committee_office")]


def test_events_before_the_report_wait_for_it(rules: Rules) -> None:
    early_close = hazard_event(
        "hazard.closed", "H1", at("2026-09-05 10:00"), closed_at=at("2026-09-05 10:00")
    )
    report = reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30))
    rows = run(rules, [UNIT, early_close, report], "2026-12-31 00:00")
    assert [r["kind"] for r in rows] == ["report", "report", "closure", "closure"]


def test_an_unknown_industry_warns_ops(rules: Rules) -> None:
    from services.core.advance import advance
    from services.inbound import route

    report = reported(
        "H1",
        at("2026-11-02 10:00"),
        date(2026, 11, 3),
        level="general",
        industry="space_mining",
        unit_id="U9",
    )
    fact = route(parse_event(json.dumps(report).encode())).fact
    assert fact is not None
    result = advance(None, "H1", [fact], [], None, rules, at("2026-11-04 10:00"))
    assert any(
        "industry 'space_mining' has no supervising department" in w for w in result.warnings
    )
