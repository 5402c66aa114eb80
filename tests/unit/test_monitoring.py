"""What deploy/monitoring/ ships: alert rules that promtool accepts and whose own unit tests
pass, and rules and a Grafana dashboard that only name metrics duban exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.metrics import AckMetrics, EngineMetrics, NotifierMetrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = sorted(MONITORING.glob("*.rules.yml"))
RULE_TESTS = MONITORING / "duban.rules.test.yml"
DASHBOARD = MONITORING / "duban.dashboard.json"
STACK_SCRIPT = ROOT / "deploy" / "local" / "stack.sh"
# Named in the rules or the dashboard but exported by others: a Kafka exporter's consumer
# lag, and the process metrics the metrics port serves (prometheus_client's collectors).
EXTERNAL = re.compile(r"kafka_consumergroup_lag|process_[a-z_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


@pytest.fixture(scope="module")
def promtool() -> str:
    """Debian's promtool; installed like the stack's other system packages when missing."""
    if shutil.which("promtool") is None:
        subprocess.run(["bash", str(STACK_SCRIPT), "tools"], check=True, timeout=600)
    found = shutil.which("promtool")
    assert found, "promtool missing: run `deploy/local/stack.sh tools` (apt-get prometheus)"
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=MONITORING, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    assert RULES, "no *.rules.yml in deploy/monitoring"
    checked = run(promtool, "check", "rules", *(str(p) for p in RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_rules_unit_tests_pass(promtool: str) -> None:
    tested = run(promtool, "test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8")))
    assert len(tested_alerts) >= 2


def alerts() -> list[dict[str, Any]]:
    found = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found += [rule for rule in group["rules"] if "alert" in rule]
    return found


def test_every_alert_the_issue_asks_for_is_there_and_told_in_chinese() -> None:
    rules = {rule["alert"]: rule for rule in alerts()}
    asked = {
        "DubanTimerLag": "duban_engine_timer_lag_seconds",
        "DubanNoticesDeadLettered": "duban_notifier_dead_lettered_total",
        "DubanDeliveryFailureRatio": "duban_notifier_failed_total",
        "DubanConsumerLag": "kafka_consumergroup_lag",
        "DubanChannelDown": "duban_channel_circuit_open",
    }
    for alert, metric in asked.items():
        assert metric in rules[alert]["expr"], alert
    for alert, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, alert
        for text in (rule["annotations"]["summary"], rule["annotations"]["description"]):
            assert re.search(r"[\u4e00-\u9fff]", text), f"{alert}: not in Chinese: {text}"


def exported() -> set[str]:
    """Every sample name the engine, the notifier and the ack service can export."""
    registries = [
        EngineMetrics().registry,
        NotifierMetrics(channels=["email"]).registry,
        AckMetrics().registry,
    ]
    return {
        family.name + suffix
        for registry in registries
        for family in registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_rules_and_dashboard_name_only_metrics_that_exist() -> None:
    queries = [rule["expr"] for rule in alerts()] + dashboard_queries()
    named = {
        name for query in queries for name in re.findall(r"\b([a-z][a-z0-9_]*)(?=[{\[\s)])", query)
    }
    metrics = {n for n in named if n.startswith(("duban_", "kafka_", "process_"))}
    unknown = {n for n in metrics if n not in exported() and not EXTERNAL.fullmatch(n)}
    assert not unknown, f"not exported by duban: {sorted(unknown)}"


def test_the_dashboard_shows_every_metric_duban_exports() -> None:
    shown = " ".join(dashboard_queries())
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in exported()}
    missing = {f for f in families if f not in shown}
    assert not missing, f"not on the dashboard: {sorted(missing)}"


def test_the_dashboard_is_grafana_json_on_a_chosen_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    [source] = dashboard["templating"]["list"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    for panel in (p for p in panels if p["type"] != "row"):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
