"""What the engine tells ops: metrics per batch, and a warning once per calendar gap."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.core.evaluate import Rules
from services.metrics import METRICS

if TYPE_CHECKING:
    from services.engine.work import BatchReport

log = logging.getLogger("duban.engine")
_warned_years: set[int] = set()


def observe(report: BatchReport, rules: Rules) -> None:
    """Count a batch's outcomes; warn once for each year the calendar cannot cover."""
    for outcome, count in report.outcomes.items():
        METRICS.inc(
            "duban_events_total", count, help="Events handled, by outcome.", outcome=outcome
        )
    METRICS.inc("duban_events_total", report.rejected, outcome="dead_lettered")
    METRICS.inc(
        "duban_state_conflicts_total",
        report.conflicts,
        help="Compare-and-set conflicts retried (replicas, timers racing events).",
    )
    calendar = rules.timing.calendar
    for year in sorted(calendar.uncovered_years_used - _warned_years):
        _warned_years.add(year)
        log.warning(
            "%d has no statutory holiday data: working days fall back to "
            "Monday–Friday; add the year to calendar.yaml",
            year,
        )


def register_gauges(rules: Rules) -> None:
    """Gauges read at scrape time."""
    calendar = rules.timing.calendar
    METRICS.gauge(
        "duban_calendar_fallback_years",
        lambda: float(len(calendar.uncovered_years_used)),
        help="Years whose working days fell back to Monday–Friday (no holiday data).",
    )
