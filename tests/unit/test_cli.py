"""The operator commands: simulate's output format, config check's errors, --help."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "config" / "example"
SCENARIO = ROOT / "tests" / "scenarios" / "example.jsonl"
runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "config", "simulate"):
        assert command in result.output


def test_simulate_prints_every_notice_kind_in_time_order() -> None:
    result = runner.invoke(
        app,
        ["simulate", "--config", str(EXAMPLE), "--events", str(SCENARIO), "--until", "2026-12-31"],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row in rows:
        assert {"at", "subject", "notice_id", "kind", "action", "recipient", "channel"} <= set(row)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    kinds = {r["kind"] for r in rows}
    assert kinds == {
        "report",
        "reminder",
        "escalation",
        "verification",
        "supervision",
        "closure",
        "duty",
        "digest",
    }
    ladder = {r["action"] for r in rows if r["kind"] == "escalation"}
    assert ladder == {"letter", "circular", "interview", "exposure"}
    assert {r["action"] for r in rows if r["kind"] == "duty"} == {None, "letter"}
    assert all(r["action"] is None for r in rows if r["kind"] not in {"escalation", "duty"})


def test_simulate_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    good = SCENARIO.read_text(encoding="utf-8").splitlines()[0]
    events.write_text("{not json}\n" + good + "\n", encoding="utf-8")
    result = runner.invoke(app, ["simulate", "--config", str(EXAMPLE), "--events", str(events)])
    assert result.exit_code == 0
    assert "events.jsonl:1: 第 1 行已跳过，引擎运行时会把它放入死信队列：not JSON" in result.stderr


def test_config_check_accepts_the_example() -> None:
    result = runner.invoke(app, ["config", "check", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "policies.yaml",
            "offset: 3 days before",
            "offset: 3 dayz before",
            "policies.yaml:{line}: rules.2.steps.1.offset: '3 dayz before' is not an offset",
        ),
        (
            "policies.yaml",
            "kind: reminder",
            "knd: reminder",
            "policies.yaml:{line}: rules.2.knd: unknown key",
        ),
        (
            "directory.yaml",
            "head: housing-head",
            "head: nobody-here",
            "directory.yaml:{line}: departments.1.head: names unknown person 'nobody-here'",
        ),
        (
            "channels.yaml",
            "password: ${DUBAN_SMTP_PASSWORD:-}",
            "password: hunter2",
            "channels.yaml:{line}: channels.email.password: secrets must",
        ),
        (
            "duties.yaml",
            "period: quarter",
            "period: fortnight",
            "duties.yaml:{line}: duties.0.period: Input should be",
        ),
    ],
)
def test_config_check_names_file_line_and_key(
    tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    result = runner.invoke(app, ["config", "check", "--config", str(folder)])
    assert result.exit_code == 1
    assert expected.format(line=line) in result.stderr, result.stderr


def test_config_check_reports_broken_yaml_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    (folder / "calendar.yaml").write_text("holidays: [2027-01-01\nworkdays: []\n")
    result = runner.invoke(app, ["config", "check", "--config", str(folder)])
    assert result.exit_code == 1
    assert "calendar.yaml:2: not valid YAML" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "engine", "--config", str(EXAMPLE)],
        ["dlq", "list", "--topic", "events"],
    ],
)
def test_a_bad_setting_stops_a_command_naming_its_variable(args: list[str]) -> None:
    result = runner.invoke(app, args, env={"DUBAN_POISON_ATTEMPTS": "three"})
    assert result.exit_code == 1
    assert "invalid setting" in result.stderr
    assert "DUBAN_POISON_ATTEMPTS='three'" in result.stderr


def test_config_check_names_the_variables_a_channel_waits_for() -> None:
    unset = runner.invoke(app, ["config", "check", "--config", str(EXAMPLE)])
    [wecom] = [line for line in unset.stderr.splitlines() if "'wecom'" in line]
    assert "DUBAN_WECOM_WEBHOOK_URL" in wecom
    env = {"DUBAN_WECOM_WEBHOOK_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
    set_ = runner.invoke(app, ["config", "check", "--config", str(EXAMPLE)], env=env)
    assert set_.exit_code == 0, set_.output
    assert "'wecom'" not in set_.stderr
    assert "DUBAN_DINGTALK_WEBHOOK_URL" in set_.stderr
