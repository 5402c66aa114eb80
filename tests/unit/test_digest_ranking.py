"""Digests for the committee office: general and major hazards, discovery channels, the
department ranking (晾晒), each department's own digest; checked over a generated
population against counts made here, independently of services.core.ranking."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.config.load import load_config
from services.core.digest import DigestState, MissedDuty, OwnerTasks, run_digest
from services.core.evaluate import Rules
from services.core.reducer import Fact, apply
from services.core.state import HazardState
from tests.helpers import CST, at

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
CHANNELS = ("self_check", "inspection", "public_report", "other")
NOW = datetime(2026, 9, 14, 9, 0, tzinfo=CST)  # Monday: the weekly digest of 2026-W37
WEEK = (datetime(2026, 9, 7, tzinfo=CST), datetime(2026, 9, 14, tzinfo=CST))
MONTH_NOW = datetime(2026, 10, 1, 9, 0, tzinfo=CST)  # the monthly digest of September
MONTH = (datetime(2026, 9, 1, tzinfo=CST), datetime(2026, 10, 1, tzinfo=CST))


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def _facts(i: int, rng: random.Random, industries: list[str]) -> list[Fact]:
    reported_at = at("2026-08-01 08:00") + timedelta(hours=rng.randrange(0, 24 * 60))
    data: dict[str, Any] = {
        "hazard_id": f"H{i}",
        "title": f"隐患{i}",
        "level": rng.choice(["major", "general"]),
        "found_by": rng.choice(CHANNELS),
        "found_at": reported_at.isoformat(),
        "unit": {"id": f"U{i % 41}", "industry": rng.choice(industries), "region": "baitu"},
    }
    if rng.random() < 0.9:
        data["deadline"] = (reported_at + timedelta(days=rng.randrange(1, 50))).isoformat()
    if rng.random() < 0.1:  # an explicit supervising department beats the industry's
        data["supervising_department"] = rng.choice(["fire", "police", "no-such-dept"])
    facts = [Fact("hazard.reported", reported_at, f"s#{i}", data)]
    later = reported_at + timedelta(hours=rng.randrange(1, 24 * 45))
    fate = rng.random()
    if fate < 0.35:
        facts.append(
            Fact(
                "hazard.closed",
                later,
                f"c#{i}",
                {"hazard_id": f"H{i}", "closed_at": later.isoformat()},
            )
        )
    elif fate < 0.45:
        facts.append(
            Fact(
                "hazard.rectified",
                later,
                f"r#{i}",
                {"hazard_id": f"H{i}", "rectified_at": later.isoformat()},
            )
        )
    elif fate < 0.5:
        facts.append(
            Fact("hazard.cancelled", later, f"x#{i}", {"hazard_id": f"H{i}", "reason": "误报"})
        )
    elif fate < 0.7:
        facts.append(
            Fact("hazard.progress", later, f"p#{i}", {"hazard_id": f"H{i}", "percent": 50})
        )
    return facts


def population(rules: Rules, size: int = 600, seed: int = 15) -> list[HazardState]:
    rng = random.Random(seed)
    industries = [*sorted(rules.index.department_of_industry), "unknown_industry"]
    hazards = []
    for i in range(size):
        state = None
        for fact in _facts(i, rng, industries):
            state = apply(state, fact, rules.timing.zone).state
        assert state is not None
        hazards.append(state)
    return hazards


# --- counts made here, from the plain state fields ----------------------------------------------


def department_id(hazard: HazardState, rules: Rules) -> str | None:
    lead = {code: d.id for d in rules.index.directory.departments for code in d.industries}
    named = {d.id for d in rules.index.directory.departments}
    if hazard.supervising_department in named:
        return hazard.supervising_department
    assert hazard.unit is not None
    return lead.get(hazard.unit.industry)


def unclosed(h: HazardState) -> bool:
    return h.status in ("reported", "rectifying", "rectified")


def overdue(h: HazardState, now: datetime) -> bool:
    return h.status in ("reported", "rectifying") and h.deadline is not None and h.deadline < now


def closed_within(h: HazardState, span: tuple[datetime, datetime]) -> bool:
    return h.status == "closed" and h.closed_at is not None and span[0] <= h.closed_at < span[1]


def reported_within(h: HazardState, span: tuple[datetime, datetime]) -> bool:
    return h.reported_at is not None and span[0] <= h.reported_at < span[1]


def totals(hazards: list[HazardState], now: datetime, span: tuple[datetime, datetime]) -> dict:
    return {
        "reported": sum(reported_within(h, span) for h in hazards),
        "closed": sum(closed_within(h, span) for h in hazards),
        "open": sum(unclosed(h) for h in hazards),
        "overdue": sum(overdue(h, now) for h in hazards),
    }


def channel_rows(hazards: list[HazardState], span: tuple[datetime, datetime]) -> list[dict]:
    rows = []
    for channel in CHANNELS:
        mine = [h for h in hazards if h.found_by == channel]
        major = [h for h in mine if h.level == "major"]
        rows.append(
            {
                "found_by": channel,
                "reported": sum(reported_within(h, span) for h in mine),
                "major_reported": sum(reported_within(h, span) for h in major),
                "open": sum(unclosed(h) for h in mine),
                "major_open": sum(unclosed(h) for h in major),
            }
        )
    return rows


def ranking_rows(
    hazards: list[HazardState], rules: Rules, now: datetime, span: tuple[datetime, datetime]
) -> dict[str, dict]:
    rows = {}
    for dept in rules.index.directory.departments:
        mine = [h for h in hazards if department_id(h, rules) == dept.id]
        closed = [h for h in mine if closed_within(h, span)]
        on_time = [h for h in closed if h.deadline is None or h.closed_at <= h.deadline]
        rows[dept.id] = {
            "department": dept.id,
            "open": sum(unclosed(h) for h in mine),
            "overdue": sum(overdue(h, now) for h in mine),
            "major_overdue": sum(overdue(h, now) and h.level == "major" for h in mine),
            "closed": len(closed),
            "closed_on_time": len(on_time),
            "on_time_rate": round(100 * len(on_time) / len(closed)) if closed else None,
        }
    return rows


# --- the committee office's digest ----------------------------------------------------------------


def test_the_weekly_digest_counts_channels_levels_and_ranks_departments(rules: Rules) -> None:
    hazards = population(rules)
    digest = next(g for g in rules.duties.digests if g.id == "weekly")
    run = run_digest(
        digest,
        DigestState(digest="weekly", since=NOW - timedelta(days=60)),
        hazards,
        [],
        rules,
        NOW,
    )
    facts = run.notices[0].facts
    major = [h for h in hazards if h.level == "major"]
    general = [h for h in hazards if h.level == "general"]
    assert facts["totals"] == totals(major, NOW, WEEK)
    assert facts["general_totals"] == totals(general, NOW, WEEK)
    assert facts["by_found_by"] == channel_rows(hazards, WEEK)
    assert sum(r["reported"] for r in facts["by_found_by"]) == sum(
        reported_within(h, WEEK) for h in hazards
    )
    expected = ranking_rows(hazards, rules, NOW, WEEK)
    ranking = facts["department_ranking"]
    assert [r["rank"] for r in ranking] == list(range(1, len(expected) + 1))
    assert {r["ranked_of"] for r in ranking} == {len(expected)}
    for row in ranking:
        shown = {k: v for k, v in row.items() if k not in ("rank", "ranked_of")}
        assert shown == expected[row["department"]]
    # Worst first: most overdue, then most overdue majors, then the lowest on-time rate.
    keys = [
        (
            -r["overdue"],
            -r["major_overdue"],
            100 if r["on_time_rate"] is None else r["on_time_rate"],
        )
        for r in ranking
    ]
    assert keys == sorted(keys)
    assert ranking[0]["overdue"] == max(r["overdue"] for r in expected.values()) > 0
    # Hazards no department supervises are counted in the totals, never ranked.
    unranked = [h for h in hazards if department_id(h, rules) is None]
    assert unranked and sum(r["open"] for r in ranking) == sum(unclosed(h) for h in hazards) - sum(
        unclosed(h) for h in unranked
    )


def test_public_reports_are_counted_apart(rules: Rules) -> None:
    hazards = population(rules, size=200, seed=3)
    digest = next(g for g in rules.duties.digests if g.id == "weekly")
    run = run_digest(
        digest,
        DigestState(digest="weekly", since=NOW - timedelta(days=60)),
        hazards,
        [],
        rules,
        NOW,
    )
    rows = {r["found_by"]: r for r in run.notices[0].facts["by_found_by"]}
    public = [h for h in hazards if h.found_by == "public_report"]
    assert public and rows["public_report"]["open"] == sum(unclosed(h) for h in public)
    assert list(rows) == list(CHANNELS)


# --- each department's own digest -----------------------------------------------------------------


def test_a_department_digest_shows_only_its_own(rules: Rules) -> None:
    hazards = population(rules, size=400, seed=7)
    end = MONTH[1] - timedelta(hours=1)
    missed = [
        MissedDuty("U1", "鑫源化工", "principal_inspection", "2026-09", end, "hazardous_chemicals"),
        MissedDuty("U2", "建工公司", "evacuation_drill", "2026-09", end, "construction"),
        MissedDuty("housing", "housing", "weekly_report", "2026-W38", end),
        MissedDuty("emergency", "emergency", "weekly_report", "2026-W38", end),
    ]
    tasks = [
        OwnerTasks("department", "housing", "住建所", open=3, overdue=1),
        OwnerTasks("unit", "U1", "鑫源化工", open=1, overdue=0),
    ]
    digest = next(g for g in rules.duties.digests if g.id == "monthly")
    state = DigestState(digest="monthly", since=MONTH_NOW - timedelta(days=90))
    run = run_digest(digest, state, hazards, missed, rules, MONTH_NOW, tasks)
    by_subject = {n.subject: n.facts for n in run.notices if n.recipient.role == "department"}
    assert set(by_subject) == {d.id for d in rules.index.directory.departments}
    expected = ranking_rows(hazards, rules, MONTH_NOW, MONTH)
    for dept in rules.index.directory.departments:
        facts = by_subject[dept.id]
        mine = [h for h in hazards if department_id(h, rules) == dept.id]
        assert facts["totals"] == totals([h for h in mine if h.level == "major"], MONTH_NOW, MONTH)
        assert facts["general_totals"] == totals(
            [h for h in mine if h.level == "general"], MONTH_NOW, MONTH
        )
        assert facts["by_found_by"] == channel_rows(mine, MONTH)
        # Its own industries, and hazards named to it explicitly (supervising_department).
        counted = [
            h
            for h in mine
            if h.level == "major"
            and (reported_within(h, MONTH) or closed_within(h, MONTH) or unclosed(h))
        ]
        assert {r["industry"] for r in facts["by_industry"]} == {
            h.unit.industry for h in counted if h.unit is not None
        }
        assert all(
            h.unit is not None and h.unit.industry in dept.industries
            for h in mine
            if h.supervising_department != dept.id
        )
        assert [r["department"] for r in facts["department_ranking"]] == [dept.id]
        own_row = facts["department_ranking"][0]
        assert {k: v for k, v in own_row.items() if k not in ("rank", "ranked_of")} == expected[
            dept.id
        ]
        subjects = {m["subject_id"] for m in facts["duties_missed"]}
        assert subjects == {
            m.subject_id for m in missed if m.subject_id == dept.id or m.industry in dept.industries
        }
    assert [r["owner_id"] for r in by_subject["housing"]["tasks_by_owner"]] == ["housing"]
    assert by_subject["emergency"]["tasks_by_owner"] == []
    office = next(n.facts for n in run.notices if n.recipient.role == "committee_office")
    assert len(office["department_ranking"]) == len(expected)
    assert len(office["duties_missed"]) == 4 and len(office["tasks_by_owner"]) == 2
    assert Counter(r["department"] for r in office["department_ranking"]) == Counter(set(expected))
