"""Statutory duties and digests (example duties.yaml): the core directly, and the engine's
service layer through simulate."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from contracts.registry import parse_event
from services.config.load import load_config
from services.core.digest import DigestState, digest_facts, run_digest
from services.core.duties import Duty
from services.core.duty_timeline import advance_duty, duty_subject, new_state, steps
from services.core.evaluate import Rules
from services.core.periods import period_containing
from services.core.reducer import Fact, apply
from services.core.state import HazardState, UnitInfo
from services.simulate import notice_line, simulate
from tests.helpers import CST, at, event, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def duty(rules: Rules, duty_id: str) -> Duty:
    return next(d for d in rules.duties.duties if d.id == duty_id)


def unit(high_risk: bool | None = None, industry: str = "hazardous_chemicals") -> UnitInfo:
    return UnitInfo(
        unit_id="U1", name="鑫源化工", industry=industry, region="baitu", high_risk=high_risk
    )


def schedule(rules: Rules, duty_id: str, info: UnitInfo, registered: str, now: str) -> list:
    high = (
        info.high_risk
        if info.high_risk is not None
        else info.industry in (rules.index.directory.high_risk_industries)
    )
    state = new_state("U1", duty(rules, duty_id), high, rules, at(registered))
    return [
        (s.period.key, s.step, s.due_at.isoformat()[:16])
        for s in steps(state, duty(rules, duty_id), high, rules, at(now))
    ]


@pytest.mark.parametrize(
    ("info", "registered", "now", "expected"),
    [
        # Quarterly for an ordinary industry; registered mid-Q3 before its reminder → owes
        # Q3. The letter waits for the first working morning after National Day.
        (
            unit(industry="construction"),
            "2026-08-20 10:00",
            "2026-09-01 00:00",
            [("2026-Q3", "r1", "2026-09-24T09:00"), ("2026-Q3", "letter", "2026-10-08T09:00")],
        ),
        # Monthly in a high-risk industry (hazardous chemicals by default); the reminder of
        # August (08-25) was still ahead on 08-20, so August is owed.
        (
            unit(),
            "2026-08-20 10:00",
            "2026-09-01 00:00",
            [
                ("2026-08", "r1", "2026-08-25T09:00"),
                ("2026-08", "letter", "2026-09-01T09:00"),
                ("2026-09", "r1", "2026-09-24T09:00"),
                ("2026-09", "letter", "2026-10-08T09:00"),
            ],
        ),
        # unit.upserted may say otherwise: not high-risk → quarterly; registered after the
        # Q2 reminder (06-24) → owes from Q3.
        (
            unit(high_risk=False),
            "2026-06-26 10:00",
            "2026-07-15 00:00",
            [("2026-Q3", "r1", "2026-09-24T09:00"), ("2026-Q3", "letter", "2026-10-08T09:00")],
        ),
    ],
)
def test_principal_inspection_periods(rules: Rules, info, registered, now, expected) -> None:
    assert schedule(rules, "principal_inspection", info, registered, now) == expected


def test_evacuation_drill_half_yearly_in_high_risk_industries(rules: Rules) -> None:
    assert schedule(rules, "evacuation_drill", unit(), "2026-07-01 10:00", "2026-07-01 12:00") == [
        ("2026-H2", "r1", "2026-12-02T09:00"),
        ("2026-H2", "r2", "2026-12-25T09:00"),
        ("2026-H2", "letter", "2027-01-01T09:00"),
    ]
    # Not high-risk: yearly; registered 12-28, after the 30-day reminder → owes 2027.
    assert schedule(
        rules, "evacuation_drill", unit(high_risk=False), "2026-12-28 10:00", "2026-12-29 00:00"
    ) == [
        ("2027", "r1", "2027-12-02T09:00"),
        ("2027", "r2", "2027-12-27T09:00"),
        ("2027", "letter", "2028-01-03T09:00"),
    ]


def test_working_day_reminders_follow_the_statutory_calendar(rules: Rules) -> None:
    # weekly_report: 1 working day before the week ends. Week 2026-W40 ends Mon 10-05
    # inside the National Day holiday; the last working day before it is Wed 09-30.
    state = new_state(
        "emergency", duty(rules, "weekly_report"), False, rules, at("2026-09-01 10:00")
    )
    found = [
        (s.period.key, s.step, s.due_at.isoformat()[:16])
        for s in steps(state, duty(rules, "weekly_report"), False, rules, at("2026-10-01 12:00"))
    ]
    assert ("2026-W40", "r1", "2026-09-30T09:00") in found


def _run_duty(rules: Rules, fulfilled: str | None, now: str) -> list[tuple[str, str | None]]:
    info = unit(industry="construction")
    state = new_state(
        "U1", duty(rules, "principal_inspection"), False, rules, at("2026-08-20 10:00")
    )
    result = advance_duty(
        state,
        duty(rules, "principal_inspection"),
        duty_subject("U1", info),
        info,
        rules,
        at(now),
        at(fulfilled) if fulfilled else None,
    )
    # (person, action) of the notices to people; a work-chat group's post is not one.
    return [
        (n.recipient.person.id, n.action) for n in result.notices if n.recipient.role != "group"
    ]


def test_fulfilment_on_the_last_day_of_the_period_prevents_the_letter(rules: Rules) -> None:
    # Registered 08-20, Q3 is owed; fulfilled on its last day: no letter on 10-08.
    assert _run_duty(rules, "2026-09-30 23:30", "2026-10-08 09:00") == []


def test_a_period_ending_unfulfilled_sends_the_letter(rules: Rules) -> None:
    sent = _run_duty(rules, None, "2026-10-08 09:00")
    letters = sorted(person for person, action in sent if action == "letter")
    # construction → 住建所 (三管三必须); the unit has no principal on file → the office
    assert letters == ["aqb-duty", "housing-duty"]


def test_simulate_shows_duty_reminders_letters_and_both_digests(rules: Rules) -> None:
    events = [
        unit_upserted("U1", at("2026-08-20 08:00"), industry="construction"),
        event(
            "duty.fulfilled",
            "emergency",
            at("2026-09-10 10:00"),
            {
                "subject_id": "emergency",
                "duty": "weekly_report",
                "fulfilled_at": at("2026-09-10 10:00").isoformat(),
            },
        ),
    ]
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    rows = [notice_line(n) for n in simulate(parsed, rules, at("2026-10-02 00:00"))]
    weekly = [r for r in rows if r["notice_id"].startswith("duty:emergency:weekly_report:")]
    assert ("r1", None) in {(r["notice_id"].split(":")[4], r["action"]) for r in weekly}
    # W37 (09-07..09-13) was fulfilled on 09-10: no letter for it, letters for the others.
    letters = {r["notice_id"].split(":")[3] for r in weekly if r["action"]}
    assert "2026-W37" not in letters and "2026-W38" in letters
    # Only the departments duties.yaml lists owe the weekly report.
    owing = {r["subject"] for r in rows if ":weekly_report:" in r["notice_id"]}
    assert owing == {"emergency"}
    digests = Counter(r["notice_id"].split(":")[1] for r in rows if r["kind"] == "digest")
    assert digests["weekly"] >= 5 and digests["monthly"] >= 1
    assert all(r["subject"] and r["kind"] in {"duty", "digest"} for r in rows)


def test_digest_counts_equal_a_count_made_here(rules: Rules) -> None:
    rng = random.Random(7)
    zone = rules.timing.zone
    regions, industries = (
        ["baitu", "taohuayu", "qiuba", "lengshui"],
        ["hazardous_chemicals", "non_coal_mine", "construction", "fire_safety", "gas"],
    )
    hazards: list[HazardState] = []
    for i in range(400):
        reported_at = at("2026-08-01 08:00") + timedelta(hours=rng.randrange(0, 24 * 60))
        deadline = reported_at + timedelta(days=rng.randrange(1, 60))
        facts = [
            Fact(
                "hazard.reported",
                reported_at,
                f"s#{i}",
                {
                    "hazard_id": f"H{i}",
                    "title": f"隐患{i}",
                    "level": rng.choice(["major", "general"]),
                    "found_by": "inspection",
                    "found_at": reported_at.isoformat(),
                    "unit": {
                        "id": f"U{i % 37}",
                        "industry": rng.choice(industries),
                        "region": rng.choice(regions),
                    },
                    "deadline": deadline.isoformat(),
                },
            )
        ]
        if rng.random() < 0.4:
            closed = reported_at + timedelta(hours=rng.randrange(1, 24 * 40))
            facts.append(
                Fact(
                    "hazard.closed",
                    closed,
                    f"c#{i}",
                    {"hazard_id": f"H{i}", "closed_at": closed.isoformat()},
                )
            )
        state = None
        for fact in facts:
            state = apply(state, fact, zone).state
        hazards.append(state)
    digest = next(g for g in rules.duties.digests if g.id == "weekly")
    now = datetime(2026, 9, 14, 9, 0, tzinfo=CST)
    run = run_digest(
        digest,
        DigestState(digest="weekly", since=now - timedelta(days=60)),
        hazards,
        [],
        rules,
        now,
    )
    facts_sent = run.notices[0].facts
    start, end = datetime(2026, 9, 7, tzinfo=CST), datetime(2026, 9, 14, tzinfo=CST)
    major = [h for h in hazards if h.level == "major"]
    is_open = [h for h in major if h.status != "closed"]
    expected = {
        "reported": sum(start <= h.reported_at < end for h in major),
        "closed": sum(h.status == "closed" and start <= h.closed_at < end for h in major),
        "open": len(is_open),
        "overdue": sum(h.deadline < now for h in is_open),
    }
    assert facts_sent["totals"] == expected
    assert run.period_key == "2026-W37"
    for row in facts_sent["by_region"]:
        in_region = [h for h in is_open if h.unit.region == row["region"]]
        assert row["open"] == len(in_region)
    assert sum(r["overdue"] for r in facts_sent["by_industry"]) == expected["overdue"]
    overdue_days = [r["days_overdue"] for r in facts_sent["longest_overdue"]]
    assert overdue_days == sorted(overdue_days, reverse=True) and len(overdue_days) == 10


def test_a_digest_is_sent_once_per_period_even_after_a_missed_window(rules: Rules) -> None:
    digest = next(g for g in rules.duties.digests if g.id == "weekly")
    state = DigestState(digest="weekly", since=at("2026-09-01 10:00"))
    late = run_digest(digest, state, [], [], rules, at("2026-09-09 15:00"))  # down on Monday
    assert late.period_key == "2026-W36" and late.notices
    assert late.notices[0].facts["totals"] == {"reported": 0, "closed": 0, "open": 0, "overdue": 0}
    state = state.model_copy(update={"sent": [late.period_key]})
    again = run_digest(digest, state, [], [], rules, at("2026-09-10 09:00"))
    assert again.period_key is None and not again.notices
    assert again.next_at == at("2026-09-14 09:00")


def test_zero_facts_digest_for_a_department(rules: Rules) -> None:
    digest = next(g for g in rules.duties.digests if g.id == "monthly")
    august = period_containing("month", at("2026-08-15 00:00"), rules.timing.zone)
    period_facts = digest_facts(digest, august, [], [], at("2026-09-01 09:00"))
    assert period_facts["by_region"] == [] and period_facts["totals"]["open"] == 0
    assert date.fromisoformat(period_facts["period_start"][:10]) == date(2026, 8, 1)
