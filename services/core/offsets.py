"""Offsets ops write in YAML ("7 days before", "3 working days after") and their arithmetic."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.core.workcalendar import WorkCalendar

Unit = Literal["minute", "hour", "day", "working_day", "week"]

_PATTERN = re.compile(
    r"^\s*(?P<n>\d+)\s*(?P<unit>minutes?|hours?|days?|working\s+days?|weeks?)"
    r"\s+(?P<dir>before|after)\s*$"
)
_UNITS: dict[str, Unit] = {
    "minute": "minute",
    "hour": "hour",
    "day": "day",
    "working day": "working_day",
    "week": "week",
}
_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}


@dataclass(frozen=True)
class Offset:
    """A signed distance from an anchor, in calendar units or statutory working days."""

    amount: int
    unit: Unit

    def apply(self, anchor: datetime, calendar: WorkCalendar) -> datetime:
        """The moment this offset lands on, counted from `anchor`."""
        if self.unit == "working_day":
            return calendar.add_working_days(anchor, self.amount)
        return anchor + timedelta(seconds=self.amount * _SECONDS[self.unit])

    def __str__(self) -> str:
        if self.amount == 0:
            return "at"
        label = self.unit.replace("_", " ")
        plural = "s" if abs(self.amount) != 1 else ""
        direction = "after" if self.amount > 0 else "before"
        return f"{abs(self.amount)} {label}{plural} {direction}"


def parse_offset(text: str | int) -> Offset:
    """Parse "at", "0", "7 days before", "3 working days after", "12 hours after"."""
    if isinstance(text, int) and text == 0:
        return Offset(0, "day")
    cleaned = str(text).strip().lower()
    if cleaned in {"at", "0", "on"}:
        return Offset(0, "day")
    match = _PATTERN.match(cleaned)
    if match is None:
        raise ValueError(
            f"'{text}' is not an offset; write e.g. 'at', '7 days before', "
            "'3 working days after', '12 hours after' or '1 week after'"
        )
    unit_word = re.sub(r"\s+", " ", match["unit"]).rstrip("s")
    amount = int(match["n"])
    return Offset(amount if match["dir"] == "after" else -amount, _UNITS[unit_word])
