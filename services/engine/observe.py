"""What the engine tells ops: metrics per batch, and a warning once per calendar gap."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from services.core.evaluate import Rules
from services.core.workcalendar import WorkCalendar, fallback_warning
from services.metrics import EngineMetrics

if TYPE_CHECKING:
    from services.engine.work import BatchReport

log = logging.getLogger("duban.engine")
# Years already warned about, per calendar (one per loaded config).
_warned_years: WeakKeyDictionary[WorkCalendar, set[int]] = WeakKeyDictionary()


def observe(report: BatchReport, rules: Rules, metrics: EngineMetrics | None = None) -> None:
    """Count a batch's outcomes on the engine's metrics (when given); warn once for each
    year the calendar cannot cover."""
    if metrics is not None:
        for outcome, count in report.outcomes.items():
            metrics.events.labels(outcome).inc(count)
        metrics.events.labels("dead_lettered").inc(report.rejected)
        metrics.conflicts.inc(report.conflicts)
    calendar = rules.timing.calendar
    warned = _warned_years.setdefault(calendar, set())
    for year in sorted(calendar.uncovered_years_used - warned):
        warned.add(year)
        log.warning("%s", fallback_warning(year))


def register_gauges(rules: Rules, metrics: EngineMetrics | None = None) -> EngineMetrics:
    """The engine's metrics (on a registry of their own unless given), with the gauges
    read at scrape time."""
    metrics = metrics if metrics is not None else EngineMetrics()
    calendar = rules.timing.calendar
    metrics.calendar_fallback_years.set_function(lambda: float(len(calendar.uncovered_years_used)))
    return metrics
