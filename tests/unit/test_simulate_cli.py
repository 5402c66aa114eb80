"""`duban simulate` tells ops what the engine would log (issue 14 §7): warnings on stderr,
once per distinct text, Chinese first; bad input lines named and skipped; every shipped
example simulates."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.registry import INBOUND_TYPES
from services.cli import app
from services.core.workcalendar import fallback_warning
from tests.helpers import at, jsonl, reported, unit_upserted

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "config" / "example"
EXAMPLES = sorted((ROOT / "contracts" / "examples").glob("*.json"))
runner = CliRunner()


def simulate(events: Path, *extra: str):
    args = ["simulate", "--config", str(EXAMPLE), "--events", str(events), *extra]
    return runner.invoke(app, args)


def skipped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "已跳过，引擎运行时" in line]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_shipped_example_simulates(example: Path) -> None:
    shipped = json.loads(example.read_text(encoding="utf-8"))
    kind, until = shipped["type"], date.fromisoformat(shipped["time"][:10]) + timedelta(days=14)
    # One event, pretty-printed as in contracts/examples/, two weeks on.
    result = simulate(example, "--until", until.isoformat())
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    skipped = skipped_lines(result.stderr)
    if kind not in INBOUND_TYPES:  # a receipt: what the engine would dead-letter
        assert skipped == [
            f"{example}:1: 第 1 行已跳过，引擎运行时会把它放入死信队列："
            f"type: '{kind}' is not an inbound event duban consumes（line 1 skipped）"
        ]
    elif kind != "notice.acknowledged":  # (its notice id may name no duban notice)
        assert skipped == []
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"at", "notice_id", "recipient"} <= set(row) for row in rows)


def test_all_examples_as_json_lines(tmp_path: Path) -> None:
    lines = [json.dumps(json.loads(p.read_text(encoding="utf-8"))) for p in EXAMPLES]
    events = tmp_path / "examples.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = simulate(events, "--until", "2026-06-30")
    assert result.exit_code == 0, result.output
    outbound = [
        i
        for i, p in enumerate(EXAMPLES, 1)
        if json.loads(lines[i - 1])["type"] not in INBOUND_TYPES
    ]
    named = [line.split(":")[1] for line in skipped_lines(result.stderr)]
    assert set(map(str, outbound)) <= set(named)
    assert any(json.loads(row)["kind"] == "report" for row in result.stdout.splitlines())


def test_a_bad_line_is_named_and_skipped_and_strict_exits_1(tmp_path: Path) -> None:
    good = [
        unit_upserted("U1", at("2026-09-01 08:00")),
        reported("H1", at("2026-09-01 10:00"), date(2026, 9, 30)),
    ]
    bad_data = reported("H2", at("2026-09-01 11:00"), date(2026, 9, 30), level="huge")
    events = tmp_path / "events.jsonl"
    events.write_text(
        jsonl(good[:1]) + "{not json}\n" + jsonl(good[1:]) + json.dumps(bad_data) + "\n",
        encoding="utf-8",
    )
    for extra, code in (((), 0), (("--strict",), 1)):
        result = simulate(events, "--until", "2026-09-02", *extra)
        assert result.exit_code == code, result.output
        skipped = skipped_lines(result.stderr)
        assert [line.split(": ", 1)[0] for line in skipped] == [f"{events}:2", f"{events}:4"]
        assert "第 2 行已跳过" in skipped[0] and "not JSON" in skipped[0]
        assert "第 4 行已跳过" in skipped[1] and "data.level" in skipped[1]
        # The good lines are simulated: the report of H1 went out.
        subjects = {json.loads(row)["subject"] for row in result.stdout.splitlines()}
        assert "H1" in subjects and "H2" not in subjects
    assert "2 行已跳过，按 --strict 以返回码 1 结束" in result.stderr


def test_warnings_are_printed_once_each_chinese_first(tmp_path: Path) -> None:
    # H1: a unit never registered (its principal resolves to nobody), an unknown
    # supervising department, and a deadline in 2027 (no statutory calendar data).
    hazards = [
        reported(
            f"H{i}",
            at("2026-12-20 10:00"),
            date(2027, 2, 26),
            unit_id="U-NONE",
            supervising_department="nosuch",
        )
        for i in (1, 1)  # the same hazard twice: one set of warnings
    ]
    events = tmp_path / "events.jsonl"
    events.write_text(jsonl(hazards), encoding="utf-8")
    result = simulate(events, "--until", "2027-04-30")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("提醒 (warning): ")]
    assert len(warnings) == len(set(warnings))
    expected = [
        fallback_warning(2027),
        "H1：主管部门 'nosuch'（supervising_department）不在 directory.yaml 的 departments 中，"
        "按行业改由“应急管理办公室”（emergency）负责（unknown supervising_department 'nosuch'）",
        "H1：身份 'principal' 找不到人，已改发安委办（sent to the committee office instead）"
        "（role 'principal' resolves to nobody）",
    ]
    for text in expected:
        assert warnings.count(f"提醒 (warning): {text}") == 1, result.stderr
    assert not any(line.isascii() for line in warnings)  # every one in Chinese
