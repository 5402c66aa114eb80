"""Metrics exposition and the engine's per-batch observations."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.config.load import load_config
from services.engine.observe import observe, register_gauges
from services.engine.work import BatchReport
from services.metrics import METRICS, Metrics

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


def test_prometheus_text_has_counters_with_labels_and_gauges() -> None:
    metrics = Metrics()
    metrics.inc("duban_events_total", 3, help="Events.", outcome="applied")
    metrics.inc("duban_events_total", 1, outcome="stale")
    metrics.gauge("duban_pending", lambda: 7.0, help="Pending.")
    text = metrics.render()
    assert "# TYPE duban_events_total counter" in text
    assert 'duban_events_total{outcome="applied"} 3' in text
    assert 'duban_events_total{outcome="stale"} 1' in text
    assert "# HELP duban_pending Pending.\n# TYPE duban_pending gauge\nduban_pending 7" in text


def test_calendar_fallback_is_a_metric_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    rules = load_config(EXAMPLE).rules()
    register_gauges(rules)
    rules.timing.calendar.add_working_days(datetime(2027, 3, 1, tzinfo=ZoneInfo("UTC")), 3)
    with caplog.at_level(logging.WARNING, logger="duban.engine"):
        observe(BatchReport(), rules)
        observe(BatchReport(), rules)
    warnings = [r.message for r in caplog.records if "2027" in r.message]
    assert len(warnings) == 1
    assert "duban_calendar_fallback_years 1" in METRICS.render()
