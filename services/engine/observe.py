"""What the engine tells ops: metrics per batch, and a warning once per calendar gap."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.core.evaluate import Rules
from services.metrics import EngineMetrics

if TYPE_CHECKING:
    from services.engine.work import BatchReport

log = logging.getLogger("duban.engine")
_warned_years: set[int] = set()


def observe(report: BatchReport, rules: Rules, metrics: EngineMetrics | None = None) -> None:
    """Count a batch's outcomes on the engine's metrics (when given); warn once for each
    year the calendar cannot cover."""
    if metrics is not None:
        for outcome, count in report.outcomes.items():
            metrics.events.labels(outcome).inc(count)
        metrics.events.labels("dead_lettered").inc(report.rejected)
        metrics.conflicts.inc(report.conflicts)
    calendar = rules.timing.calendar
    for year in sorted(calendar.uncovered_years_used - _warned_years):
        _warned_years.add(year)
        log.warning(
            "%d has no statutory holiday data: working days fall back to "
            "Monday–Friday; add the year to calendar.yaml",
            year,
        )


def register_gauges(rules: Rules, metrics: EngineMetrics | None = None) -> EngineMetrics:
    """The engine's metrics (on a registry of their own unless given), with the gauges
    read at scrape time."""
    metrics = metrics if metrics is not None else EngineMetrics()
    calendar = rules.timing.calendar
    metrics.calendar_fallback_years.set_function(lambda: float(len(calendar.uncovered_years_used)))
    return metrics
