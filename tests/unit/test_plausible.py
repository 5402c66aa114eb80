"""Contract v1: implausible dates are refused with a bilingual reason naming the field, and the
check itself never raises (contracts/plausible.py)."""

from __future__ import annotations

import copy
import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contracts
from contracts import ENVELOPE_MODELS
from contracts.plausible import (
    DEFAULT_PLAUSIBILITY,
    Plausibility,
    envelope_problem,
    implausible,
    problems,
)

EXAMPLES = Path(contracts.__file__).resolve().parent / "examples"
OUT_OF_RANGE = ("1900-01-01", "9999-12-31", "2101-01-01", "1999-12-31")
BOUNDARIES = ("2000-01-01", "2100-12-31")
EXCEPTION_NAME = re.compile(r"[A-Z][a-z]+(Error|Exception)\b")

#: (event type, dotted path of a date field, whether it is a deadline: a date is allowed).
DATE_FIELDS = [
    ("hazard.reported", "data.found_at", False),
    ("hazard.reported", "data.deadline", True),
    ("hazard.updated", "data.deadline", True),
    ("hazard.rectified", "data.rectified_at", False),
    ("hazard.closed", "data.closed_at", False),
    ("hazard.reopened", "data.deadline", True),
    ("hazard.supervision_listed", "data.deadline", True),
    ("duty.fulfilled", "data.fulfilled_at", False),
    ("notice.acknowledged", "data.acknowledged_at", False),
    ("notice.requested", "data.due_at", False),
    ("notice.requested", "data.channels.1.not_before", False),
    ("notice.delivered", "data.delivered_at", False),
    ("notice.failed", "data.failed_at", False),
    ("hazard.progress", "time", False),
    ("unit.upserted", "time", False),
]


def example(event_type: str) -> dict[str, Any]:
    text = (EXAMPLES / f"{event_type}.json").read_text(encoding="utf-8")
    return copy.deepcopy(json.loads(text))


def put(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    parts = path.split(".")
    target: Any = doc
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[parts[-1]] = value
    return doc


def with_date(event_type: str, path: str, value: str, *, consistent: bool = False) -> bytes:
    """The example with one date field set; `consistent`: the hazard found on that day."""
    doc = put(example(event_type), path, value)
    if consistent and event_type == "hazard.reported" and path == "data.found_at":
        doc["data"]["deadline"] = None
    if consistent and event_type == "hazard.reported" and path == "data.deadline":
        doc["data"]["found_at"] = value[:10] + "T00:00:00+08:00"
    return json.dumps(doc, ensure_ascii=False).encode()


def reason_for(raw: bytes, limits: Plausibility = DEFAULT_PLAUSIBILITY) -> str | None:
    """Validate like parse_event (but whether or not it checks plausibility), then check."""
    event_type = json.loads(raw)["type"]
    envelope = ENVELOPE_MODELS[event_type].model_validate_json(raw, strict=True)
    return implausible(envelope.time, envelope.data, limits)


def field_values(day: str, is_deadline: bool) -> list[str]:
    instants = [f"{day}T12:00:00+08:00", f"{day}T00:00:00Z"]
    return [day, *instants] if is_deadline else instants


def assert_readable(reason: str | None, path: str) -> None:
    assert reason is not None
    assert reason.startswith(path.replace(".1.", "[1].") + ": ")
    assert re.search(r"[\u4e00-\u9fff]", reason), "no Chinese phrase"
    assert "(" in reason and reason.endswith(")"), "no English gloss"
    assert not EXCEPTION_NAME.search(reason)
    assert "\n" not in reason


# --- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize("day", OUT_OF_RANGE)
@pytest.mark.parametrize(("event_type", "path", "is_deadline"), DATE_FIELDS)
def test_a_date_out_of_range_is_refused(
    event_type: str, path: str, is_deadline: bool, day: str
) -> None:
    for value in field_values(day, is_deadline):
        reason = reason_for(with_date(event_type, path, value))
        assert_readable(reason, path)
        assert reason is not None
        assert f"日期 {day} 超出允许范围 2000-01-01 至 2100-12-31" in reason
        assert reason.endswith("(date outside the allowed range)")


@pytest.mark.parametrize("day", BOUNDARIES)
@pytest.mark.parametrize(("event_type", "path", "is_deadline"), DATE_FIELDS)
def test_the_boundaries_are_accepted(
    event_type: str, path: str, is_deadline: bool, day: str
) -> None:
    for value in field_values(day, is_deadline):
        assert reason_for(with_date(event_type, path, value, consistent=True)) is None


def test_a_datetime_counts_by_its_date_in_its_own_offset() -> None:
    late = datetime(2100, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-10)))
    assert envelope_problem(late) is None  # 2101-01-01 in UTC, still 2100-12-31 locally
    early = datetime(1999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-10)))
    assert envelope_problem(early) == (
        "time: 日期 1999-12-31 超出允许范围 2000-01-01 至 2100-12-31 "
        "(date outside the allowed range)"
    )


def test_every_implausible_field_is_listed_and_the_envelope_comes_first() -> None:
    doc = example("notice.requested")
    doc["time"] = "1900-01-01T00:00:00Z"
    doc["data"]["due_at"] = "9999-12-31T00:00:00Z"
    doc["data"]["channels"][1]["not_before"] = "1999-12-31T00:00:00Z"
    event = ENVELOPE_MODELS["notice.requested"].model_validate_json(json.dumps(doc), strict=True)
    found = problems(event.data)
    assert [reason.split(":")[0] for reason in found] == [
        "data.due_at",
        "data.channels[1].not_before",
    ]
    reason = implausible(event.time, event.data)
    assert reason is not None and reason.startswith("time: 日期 1900-01-01")


def test_other_limits_can_be_given() -> None:
    limits = Plausibility(earliest=date(2026, 1, 1), latest=date(2026, 12, 31))
    raw = with_date("hazard.closed", "data.closed_at", "2025-12-31T10:00:00+08:00")
    assert reason_for(raw) is None
    assert reason_for(raw, limits) == (
        "data.closed_at: 日期 2025-12-31 超出允许范围 2026-01-01 至 2026-12-31 "
        "(date outside the allowed range)"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"earliest": date(2030, 1, 1), "latest": date(2029, 12, 31)},
        {"deadline_tolerance": timedelta(seconds=-1)},
    ],
)
def test_inconsistent_limits_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Plausibility(**kwargs)


# --- deadline before the finding --------------------------------------------------------------

FOUND_AT = "2026-03-01T10:00:00+08:00"


@pytest.mark.parametrize(
    ("deadline", "shown"),
    [
        ("2026-01-01", "整改期限 2026-01-01 早于发现时间 2026-03-01"),
        ("2026-02-27", "整改期限 2026-02-27 早于发现时间 2026-03-01"),  # ended 34 h before
        (
            "2026-02-28T09:00:00+08:00",  # 25 h before
            "整改期限 2026-02-28T09:00:00+08:00 早于发现时间 2026-03-01T10:00:00+08:00",
        ),
        (
            "2026-02-28T01:59:00Z",  # the same instant as 09:59 in +08:00
            "整改期限 2026-02-28T01:59:00+00:00 早于发现时间 2026-03-01T10:00:00+08:00",
        ),
    ],
)
def test_a_deadline_before_the_finding_beyond_the_tolerance_is_refused(
    deadline: str, shown: str
) -> None:
    doc = example("hazard.reported")
    doc["data"].update(found_at=FOUND_AT, deadline=deadline)
    reason = reason_for(json.dumps(doc).encode())
    assert reason == f"data.deadline: {shown} (deadline before the hazard was found)"
    assert_readable(reason, "data.deadline")


@pytest.mark.parametrize(
    "deadline",
    [
        "2026-02-28",  # ends 2026-03-01T00:00 in found_at's offset: 10 h before
        "2026-02-28T11:00:00+08:00",  # 23 h before
        "2026-03-01",
        "2026-03-01T09:00:00+08:00",
        "2026-04-30",
        None,
    ],
)
def test_a_deadline_within_the_tolerance_is_accepted(deadline: str | None) -> None:
    doc = example("hazard.reported")
    doc["data"].update(found_at=FOUND_AT, deadline=deadline)
    assert reason_for(json.dumps(doc).encode()) is None


def test_the_tolerance_is_a_limit_too() -> None:
    doc = example("hazard.reported")
    doc["data"].update(found_at=FOUND_AT, deadline="2026-02-28")
    strict = Plausibility(deadline_tolerance=timedelta(0))
    assert reason_for(json.dumps(doc).encode(), strict) is not None


def test_only_a_reported_hazard_compares_deadline_and_finding() -> None:
    raw = with_date("hazard.updated", "data.deadline", "2000-01-01")
    assert reason_for(raw) is None


# --- never raises -----------------------------------------------------------------------------

offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
any_instant = st.datetimes(timezones=offsets)


@given(any_instant, st.dates() | any_instant, any_instant)
def test_no_date_anywhere_makes_the_check_raise(
    found_at: datetime, deadline: date, time: datetime
) -> None:
    data = contracts.HazardReported.model_validate(
        {**example("hazard.reported")["data"], "found_at": found_at, "deadline": deadline}
    )
    for limits in (DEFAULT_PLAUSIBILITY, Plausibility(earliest=date.min, latest=date.max)):
        reason = implausible(time, data, limits)
        assert reason is None or not EXCEPTION_NAME.search(reason)


def test_the_extremes_parse_and_are_refused_without_an_internal_error() -> None:
    for value in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        reason = reason_for(with_date("hazard.closed", "data.closed_at", value))
        assert_readable(reason, "data.closed_at")
    limits = Plausibility(earliest=date.min, latest=date.max)
    doc = example("hazard.reported")
    doc["data"].update(found_at="9999-12-31T23:59:59-23:59", deadline="0001-01-01")
    assert reason_for(json.dumps(doc).encode(), limits) == (
        "data.deadline: 整改期限 0001-01-01 早于发现时间 9999-12-31 "
        "(deadline before the hazard was found)"
    )
