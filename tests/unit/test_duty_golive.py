"""Duties at go-live and department binding (issue 14 §5), on fixed 2026 dates.

A unit or department first seen mid-period owes that period when the period's first
reminder is still ahead (`owe_first_period`, default when_reminder_ahead); department
duties bind only the departments duties.yaml lists for them.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from contracts.registry import parse_event
from services.config.load import load_config
from services.config.positions import ConfigError
from services.core.duties import DutyState
from services.core.duty_timeline import (
    advance_duty,
    department_duties,
    duty_subject,
    first_period,
    new_state,
    steps,
)
from services.core.evaluate import Rules
from services.core.state import UnitInfo
from services.dutycheck import duty_warnings
from services.simulate import Replay, notice_line, simulate
from services.store.keys import duty_key
from services.store.ports import Write
from tests.helpers import at, event, unit_upserted

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_config(EXAMPLE).rules()


def duty(rules: Rules, duty_id: str, **changes: object):
    found = next(d for d in rules.duties.duties if d.id == duty_id)
    return found.model_copy(update=changes)


@pytest.mark.parametrize(
    ("duty_id", "high_risk", "first_seen", "owe_first", "expected"),
    [
        # Quarterly; the Q3 reminder is on 09-24 at 09:00 (7 days before the end).
        ("principal_inspection", False, "2026-08-20 10:00", None, "2026-Q3"),
        ("principal_inspection", False, "2026-09-24 08:59", None, "2026-Q3"),
        ("principal_inspection", False, "2026-09-24 09:00", None, "2026-Q4"),
        ("principal_inspection", False, "2026-09-28 10:00", None, "2026-Q4"),
        ("principal_inspection", False, "2026-08-20 10:00", "next_full_period", "2026-Q4"),
        ("principal_inspection", False, "2026-09-28 10:00", "always", "2026-Q3"),
        # Yearly drill, reminders 30 and 7 days before: 07-10 owes 2026, 12-28 does not.
        ("evacuation_drill", False, "2026-07-10 10:00", None, "2026"),
        ("evacuation_drill", False, "2026-12-28 10:00", None, "2027"),
        # Half-yearly in high-risk industries: H2's first reminder is on 12-02.
        ("evacuation_drill", True, "2026-07-10 10:00", None, "2026-H2"),
        ("evacuation_drill", True, "2026-12-10 10:00", None, "2027-H1"),
        # Weekly, 1 working day before: W40 ends in the National Day holiday, its reminder
        # is on Wed 09-30.
        ("weekly_report", False, "2026-09-29 10:00", None, "2026-W40"),
        ("weekly_report", False, "2026-09-30 10:00", None, "2026-W41"),
        # No reminders: nothing would warn before the letter, so the next period.
        ("weekly_report", False, "2026-09-28 10:00", "no_reminders", "2026-W41"),
    ],
)
def test_the_first_period_owed(
    rules: Rules,
    duty_id: str,
    high_risk: bool,
    first_seen: str,
    owe_first: str | None,
    expected: str,
) -> None:
    changes: dict[str, object] = {}
    if owe_first == "no_reminders":
        changes["reminders"] = ()
    elif owe_first is not None:
        changes["owe_first_period"] = owe_first
    d = duty(rules, duty_id, **changes)
    assert first_period(d, d.period_for(high_risk), at(first_seen), rules).key == expected


@pytest.mark.parametrize(
    ("registered", "first_notice"),
    [
        # Registered mid-Q3 at go-live, before the Q3 reminder: reminded on 09-24.
        ("2026-08-20 08:00", ("2026-Q3", "r1", "2026-09-24T09:00:00+08:00")),
        # Registered after it: nothing for Q3, the Q4 reminder on 12-25 is the first.
        ("2026-09-28 08:00", ("2026-Q4", "r1", "2026-12-25T09:00:00+08:00")),
    ],
)
def test_a_unit_registered_at_go_live_through_the_engine(
    rules: Rules, registered: str, first_notice: tuple[str, str, str]
) -> None:
    events = [unit_upserted("U1", at(registered), industry="construction")]
    parsed = [parse_event(json.dumps(e).encode()) for e in events]
    rows = [
        notice_line(n)
        for n in simulate(parsed, rules, at("2027-01-15 00:00"))
        if n.notice_id.startswith("duty:U1:principal_inspection:")
    ]
    first = rows[0]
    _, _, _, period, step = first["notice_id"].split(":")
    assert (period, step, first["at"]) == first_notice
    assert first["recipient"] == "R1"  # the principal, from unit.upserted


def test_department_duties_bind_only_the_listed_departments(rules: Rules) -> None:
    bound = {(d.id, dept) for dept, d in department_duties(rules)}
    assert bound == {
        ("weekly_report", "emergency"),
        ("monthly_analysis_meeting", "emergency"),
        ("monthly_analysis_meeting", "housing"),
        ("leader_monthly_supervision", "emergency"),
        ("leader_monthly_supervision", "housing"),
        ("head_quarterly_briefing", "emergency"),
        ("head_quarterly_briefing", "housing"),
    }


def _edited(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    path = folder / "duties.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder, text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # A department-owed duty must list its departments.
        ("    departments: [emergency]\n", "", "duties.2.departments: 部门职责须用 departments"),
        # A unit-owed duty takes no departments.
        (
            "    owed_by: unit\n",
            "    owed_by: unit\n    departments: [emergency]\n",
            "duties.0.departments: 单位职责不按部门列出",
        ),
        ("    owed_by: unit\n", "    owed_by: unit\n    owe_first_period: sometimes\n", ""),
    ],
)
def test_duties_yaml_errors_name_the_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    folder, _ = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as raised:
        load_config(folder)
    text = str(raised.value)
    assert text.startswith("duties.yaml:")
    assert expected in text if expected else "owe_first_period" in text


def test_an_unknown_department_is_a_warning_and_binds_nothing(tmp_path: Path) -> None:
    folder, line = _edited(
        tmp_path, "    departments: [emergency]\n", "    departments: [emergency, nosuch]\n"
    )
    config = load_config(folder)
    assert duty_warnings(config) == [
        f"duties.yaml:{line} duties.2.departments.1：履职事项 'weekly_report' 列出的部门 "
        "'nosuch' 不在 directory.yaml 的 departments 中，不会向它提醒或函告；请改正部门编号，"
        "或先在 directory.yaml 登记该部门（department 'nosuch' is unknown to the directory）"
    ]
    bound = {dept for dept, d in department_duties(config.rules()) if d.id == "weekly_report"}
    assert bound == {"emergency"}


def test_the_example_has_no_duty_warnings() -> None:
    assert duty_warnings(load_config(EXAMPLE)) == []


def _fulfilled(subject: str, duty_id: str, when: str) -> dict:
    data = {"subject_id": subject, "duty": duty_id, "fulfilled_at": at(when).isoformat()}
    return event("duty.fulfilled", subject, at(when), data)


async def test_the_engine_binds_listed_departments_and_ignores_others(
    rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    replay = Replay(rules, at("2026-09-01 10:00"))
    await replay.start()
    stored = await replay.store.scan("duty")
    assert {(s.duty, s.subject_id) for s in map(DutyState.model_validate_json, stored)} == {
        (d.id, dept) for dept, d in department_duties(rules)
    }
    # A fulfilment from a department that does not owe the duty starts nothing, and is
    # logged once however often it comes.
    with caplog.at_level(logging.WARNING, logger="duban.duties"):
        for day in ("2026-09-02 10:00", "2026-09-09 10:00"):
            await replay.arrive(
                parse_event(json.dumps(_fulfilled("housing", "weekly_report", day)))
            )
    assert (await replay.store.read([duty_key("weekly_report", "housing")]))[0].json is None
    logged = [r.getMessage() for r in caplog.records if r.name == "duban.duties"]
    assert len(logged) == 1
    assert logged[0].startswith("duty.fulfilled：部门 'housing' 不在 duties.yaml 中“weekly_report”")


async def test_a_department_no_longer_listed_stops_with_nothing_sent(rules: Rules) -> None:
    replay = Replay(rules, at("2026-09-01 10:00"))
    # Listed before (its state and timer exist), since dropped from duties.yaml.
    old = DutyState(subject_id="police", duty="weekly_report", owed_since=at("2026-08-01 10:00"))
    member = "duty:weekly_report:police"
    await replay.store.commit(
        [
            Write(
                duty_key("weekly_report", "police"),
                0,
                old.model_dump_json(),
                member,
                at("2026-09-02 09:00"),
            )
        ]
    )
    await replay.fire_until(at("2026-09-30 00:00"))
    assert [n for n in replay.sink.take() if n.subject == "police"] == []
    assert member not in {
        t.member for t in await replay.store.timers.claim_due(at("2027-01-01 00:00"), 100, 30)
    }


async def test_a_unit_registered_long_ago_is_first_seen_at_go_live(rules: Rules) -> None:
    # The registry publishes its own (old) date; duban first sees the unit on 09-28,
    # after the Q3 reminder: nothing is owed for Q3, nor for any earlier period; the
    # year's drill, whose first reminder is still ahead, is.
    replay = Replay(rules, at("2026-09-28 10:00"))
    old = parse_event(json.dumps(unit_upserted("U1", at("2019-05-06 08:00"), "construction")))
    await replay.arrive(old)
    await replay.fire_until(at("2026-12-31 00:00"))
    keys = {n.notice_id for n in replay.sink.take() if n.subject == "U1"}
    assert keys == {
        "duty:U1:principal_inspection:2026-Q4:r1",
        "duty:U1:evacuation_drill:2026:r1",  # 12-02: still ahead on 09-28, 2026 is owed
        "duty:U1:evacuation_drill:2026:r2",
    }


def test_after_a_gap_only_the_latest_step_of_a_period_is_sent(rules: Rules) -> None:
    # Nothing ran between 09-20 and 10-08: the Q3 reminder (09-24) and letter (10-08) are
    # both due; only the letter goes, the reminder of a period already over does not.
    info = UnitInfo(unit_id="U1", name="鑫源建筑", industry="construction", region="baitu")
    d = duty(rules, "principal_inspection")
    state = new_state("U1", d, False, rules, at("2026-08-20 10:00"))
    result = advance_duty(state, d, duty_subject("U1", info), info, rules, at("2026-10-08 09:00"))
    assert {n.notice_id for n in result.notices} == {"duty:U1:principal_inspection:2026-Q3:letter"}
    assert set(result.state.sent) == {"2026-Q3:r1", "2026-Q3:letter"}


def test_a_document_from_before_keeps_owing_from_the_next_full_period(rules: Rules) -> None:
    # Written before owe_first_period (no owed_from): upgrading sends no letter for a
    # period the unit was never reminded of.
    legacy = DutyState(
        subject_id="U1", duty="principal_inspection", owed_since=at("2026-09-01 10:00")
    )
    d = duty(rules, "principal_inspection")
    keys = [s.key for s in steps(legacy, d, False, rules, at("2026-10-10 10:00"))]
    assert keys == ["2026-Q4:r1", "2026-Q4:letter"]
    fresh = new_state("U1", d, False, rules, at("2026-09-01 10:00"))
    assert fresh.owed_from == at("2026-07-01 00:00")  # Q3: its reminder (09-24) was ahead
    assert [s.key for s in steps(fresh, d, False, rules, at("2026-10-10 10:00"))][:2] == [
        "2026-Q3:r1",
        "2026-Q3:letter",
    ]


def test_a_unit_turning_high_risk_owes_nothing_before_it_was_first_seen(rules: Rules) -> None:
    # First seen 08-20 as quarterly (owes Q3 from 07-01); monthly later: owes from August.
    d = duty(rules, "principal_inspection")
    state = new_state("U1", d, False, rules, at("2026-08-20 10:00"))
    keys = [s.key for s in steps(state, d, True, rules, at("2026-08-21 10:00"))]
    assert keys[0] == "2026-08:r1"
