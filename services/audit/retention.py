"""audit.yaml: how long the trail keeps each record class (optional; defaults apply).

    retention:
      notice: 5y            # notice.requested
      receipt: 5y           # notice.delivered / notice.failed
      acknowledgement: 5y   # notice.acknowledged
      inbound: 1y           # hazard.*, unit.upserted, duty.fulfilled as received
      dead_letter: 1y       # refused records and their reasons

A period is a number of years (`5y`) or days (`400d`). Each row carries the moment it
may be removed (`keep_until`); duban never deletes rows itself.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.audit.rows import RECORD_CLASSES
from services.config.positions import ConfigError, Located, Problem, load

AUDIT_FILE = "audit.yaml"
_PERIOD = r"^[1-9][0-9]{0,3}[yd]$"
Period = Annotated[str, Field(pattern=_PERIOD)]
DEFAULT_RETENTION = {
    "notice": "5y",
    "receipt": "5y",
    "acknowledgement": "5y",
    "inbound": "1y",
    "dead_letter": "1y",
}
assert set(DEFAULT_RETENTION) == set(RECORD_CLASSES)


class Retention(BaseModel):
    """Retention periods by record class."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    notice: Period = DEFAULT_RETENTION["notice"]
    receipt: Period = DEFAULT_RETENTION["receipt"]
    acknowledgement: Period = DEFAULT_RETENTION["acknowledgement"]
    inbound: Period = DEFAULT_RETENTION["inbound"]
    dead_letter: Period = DEFAULT_RETENTION["dead_letter"]

    def keep_until(self, record_class: str, occurred_at: datetime) -> datetime:
        """When a row of `record_class` that happened at `occurred_at` may go."""
        count, unit = _parsed(getattr(self, record_class))
        return _added(occurred_at, count, unit)


class AuditFile(BaseModel):
    """The whole of audit.yaml."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    retention: Retention = Field(default_factory=Retention)


def add_period(moment: datetime, period: str) -> datetime:
    """`moment` plus `5y` (same day, 29 February becoming 28) or `400d`."""
    return _added(moment, *_parsed(period))


@functools.cache
def _parsed(period: str) -> tuple[int, str]:
    match = re.match(r"^(\d+)([yd])$", period)
    if match is None:
        raise ValueError(f"not a period: {period!r}")
    return int(match.group(1)), match.group(2)


def _added(moment: datetime, count: int, unit: str) -> datetime:
    if unit == "d":
        return moment + timedelta(days=count)
    try:
        return moment.replace(year=moment.year + count)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + count, day=28)


def load_audit_config(folder: Path) -> AuditFile:
    """audit.yaml of `folder`, or the defaults when there is none; ConfigError if broken."""
    path = folder / AUDIT_FILE
    if not path.exists():
        return AuditFile()
    located = load(path, AUDIT_FILE)
    try:
        return AuditFile.model_validate(located.data or {})
    except ValidationError as e:
        raise ConfigError(_problems(located, e)) from None


def audit_config_problems(folder: Path) -> list[Problem]:
    """What is wrong with audit.yaml (for `duban config check`)."""
    try:
        load_audit_config(folder)
    except ConfigError as e:
        return e.problems
    return []


def _problems(located: Located, error: ValidationError) -> list[Problem]:
    problems = []
    for found in error.errors(include_url=False):
        loc = tuple(found["loc"])
        key = ".".join(str(part) for part in loc)
        message = found["msg"]
        if found["type"] == "string_pattern_mismatch":
            message = "保留期限写成年数或天数，例如 5y 或 400d (a period like 5y or 400d)"
        elif found["type"] == "extra_forbidden":
            message = f"未知的键 (unknown key; record classes: {', '.join(RECORD_CLASSES)})"
        problems.append(Problem(located.file, located.line_of(loc), key, message))
    return problems
