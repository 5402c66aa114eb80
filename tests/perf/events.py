"""A realistic inbound stream for the engine benchmark: reports, progress and updates.

Every hazard is reported first (major or general, deadline weeks after the bench clock,
so reminder and escalation timers get scheduled), then receives follow-ups in a
shuffled global order whose per-hazard order is time order, as a publisher keyed by
hazard id would produce them. Events are built like tests/helpers.py builds them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tests.helpers import hazard_event, reported, unit_upserted

# The engine's fake clock stands here while ingesting: every event is in its past and
# every deadline weeks in its future, so no timer is due during the run.
CLOCK_AT = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
INDUSTRIES = ("hazardous_chemicals", "construction", "industry_trade", "gas", "fire_safety")
MAJOR_SHARE = 0.3
UPDATE_SHARE = 0.12  # of the follow-ups; the rest are hazard.progress


@dataclass(frozen=True)
class Produced:
    """One message to produce: key and JSON value."""

    key: bytes
    value: bytes


@dataclass(frozen=True)
class Mix:
    """The generated stream, with its composition for the report."""

    units: list[dict[str, object]]
    hazard_events: list[Produced]
    counts: dict[str, int]


def build_mix(events: int, hazards: int, units: int, seed: int = 7) -> Mix:
    """`events` hazard events over `hazards` hazards of `units` units."""
    rng = random.Random(seed)
    first_seen = CLOCK_AT - timedelta(days=7)
    unit_events = [
        unit_upserted(f"U{u}", first_seen - timedelta(days=1), INDUSTRIES[u % len(INDUSTRIES)])
        for u in range(units)
    ]
    counts = {"hazard.reported": 0, "hazard.progress": 0, "hazard.updated": 0}
    out: list[Produced] = []
    reported_at: dict[int, datetime] = {}
    for h in range(hazards):
        reported_at[h] = first_seen + timedelta(seconds=rng.randrange(86400))
        out.append(_encode(_report(h, reported_at[h], units, rng)))
        counts["hazard.reported"] += 1
    follow_ups = [rng.randrange(hazards) for _ in range(max(0, events - hazards))]
    step: dict[int, int] = {}
    for h in follow_ups:
        step[h] = step.get(h, 0) + 1
        at = reported_at[h] + timedelta(minutes=step[h])
        event = _follow_up(h, at, step[h], rng)
        counts[str(event["type"])] += 1
        out.append(_encode(event))
    return Mix(unit_events, out, counts)


def _report(h: int, at: datetime, units: int, rng: random.Random) -> dict[str, object]:
    unit = rng.randrange(units)
    return reported(
        f"H{h}",
        at.astimezone(UTC),
        _deadline(rng),
        level="major" if rng.random() < MAJOR_SHARE else "general",
        industry=INDUSTRIES[unit % len(INDUSTRIES)],
        unit_id=f"U{unit}",
        responsible=("S1",),
        description="现场检查发现储罐区两处可燃气体报警器失效，已责令限期整改。",
    )


def _follow_up(h: int, at: datetime, n: int, rng: random.Random) -> dict[str, object]:
    if rng.random() < UPDATE_SHARE:
        return hazard_event(
            "hazard.updated", f"H{h}", at, deadline=_deadline(rng), reason="整改方案调整，延期"
        )
    percent = min(100, n * 10)
    return hazard_event(
        "hazard.progress", f"H{h}", at, percent=percent, note=f"整改进度 {percent}%"
    )


def _deadline(rng: random.Random) -> date:
    return (CLOCK_AT + timedelta(days=rng.randrange(21, 90))).date()


def _encode(event: dict[str, object]) -> Produced:
    body = json.dumps(event, ensure_ascii=False).encode()
    return Produced(str(event["subject"]).encode(), body)


# Reminder timers due together, for firing through the engine: general hazards whose
# deadline is the same day, so each one's d1 reminder falls due at 09:00 the day before.
SAME_DEADLINE = date(2026, 9, 15)
D1_DUE = datetime(2026, 9, 14, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def same_deadline_reports(hazards: int, units: int) -> list[Produced]:
    """hazard.reported for `hazards` general hazards due on SAME_DEADLINE."""
    reported_at = CLOCK_AT - timedelta(hours=1)
    return [
        _encode(
            reported(
                f"H{h}",
                reported_at,
                SAME_DEADLINE,
                level="general",
                industry=INDUSTRIES[h % units % len(INDUSTRIES)],
                unit_id=f"U{h % units}",
                responsible=("S1",),
            )
        )
        for h in range(hazards)
    ]
