"""The audit trail on the real stack: events through the pipeline end in PostgreSQL, a
replay adds nothing, `audit verify` catches a row altered by SQL, and `duban trace` and
`duban audit export` give every format."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date
from pathlib import Path

import openpyxl
from psycopg import AsyncConnection
from typer.testing import CliRunner, Result

from services.audit.reader import verify_trail
from services.audit.service import running_audit
from services.cli import app
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.offsets import consumer_lag
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at, event, reported, unit_upserted
from tests.integration.auditkit import audit_dsn, audit_settings, count, trail
from tests.integration.conftest import wait_for

__all__ = ["audit_dsn", "audit_settings", "trail"]  # fixtures used here
HAZARD = "H1"


async def caught_up(settings: Settings) -> bool:
    topics = settings.topics
    names = [*topics.inbound(), topics.notice_requested, topics.notice_receipts]
    names += [topics.dlq_events, topics.dlq_notices]
    return await consumer_lag(settings.kafka_bootstrap, settings.audit_group, names) == 0


async def notice_to(conn: AsyncConnection, person: str) -> str:
    cursor = await conn.execute(
        "SELECT subject FROM audit_row WHERE type = 'notice.requested' AND root = %s"
        " AND body::jsonb -> 'data' -> 'recipient' ->> 'person_id' = %s",
        (HAZARD, person),
    )
    row = await cursor.fetchone()
    assert row is not None, f"no notice to {person} in the trail"
    return str(row[0])


def acknowledgement(notice_id: str) -> dict[str, object]:
    data = {
        "notice_id": notice_id,
        "person_id": "R1",
        "acknowledged_at": at("2026-09-01 11:00").isoformat(),
    }
    return event(
        "notice.acknowledged",
        notice_id,
        at("2026-09-01 11:00"),
        data,
        source="urn:duban:ack",
        id=f"ack-{notice_id}",
    )


async def story_in_trail(settings, clock, publish, register_unit, trail) -> str:  # type: ignore[no-untyped-def]
    """Report a hazard, have it mailed and acknowledged; the acknowledged notice's id."""
    hazard = reported(HAZARD, at("2026-09-01 09:00"), date(2026, 12, 1))
    await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
    await publish(settings.topics.hazard_events, hazard)
    await wait_for(
        lambda: _at_least(trail, "type = 'notice.delivered' AND root = 'H1'", 2),
        what="two receipts kept",
    )
    notice_id = await notice_to(trail, "R1")
    await publish(settings.topics.notice_acks, acknowledgement(notice_id))
    await wait_for(lambda: _at_least(trail, "type = 'notice.acknowledged'", 1), what="the ack kept")
    # A publisher replays both: the trail must not grow.
    await publish(settings.topics.hazard_events, hazard)
    await publish(settings.topics.notice_acks, acknowledgement(notice_id))
    await wait_for(lambda: caught_up(settings), what="the audit consumer caught up")
    return notice_id


async def _at_least(conn: AsyncConnection, where: str, n: int) -> bool:
    return await count(conn, where) >= n


async def test_the_pipeline_ends_in_the_trail_once_and_verify_catches_tampering(
    audit_settings: Settings, clock: FakeClock, smtp, publish, register_unit, trail
) -> None:
    s = audit_settings
    engine, notifier = create_engine(s, clock=clock), create_notifier(s, clock=clock)
    async with running(engine.app), running(notifier.app), running_audit(s, clock=clock):
        await story_in_trail(s, clock, publish, register_unit, trail)
    assert await count(trail, "type = 'hazard.reported'") == 1
    assert await count(trail, "type = 'unit.upserted'") == 1
    # The hazard's two report notices (others, e.g. duties, go their own ways) and receipts.
    assert await count(trail, "type = 'notice.requested' AND root = 'H1'") == 2
    assert await count(trail, "type = 'notice.delivered' AND root = 'H1'") == 2
    assert await count(trail, "type = 'notice.acknowledged'") == 1
    # Contact details are kept once per person version, never in a row's body.
    assert await count(trail, "body LIKE %s", "%r1@unit.example%") == 0
    people = await (await trail.execute("SELECT count(*) FROM person_version")).fetchone()
    assert people is not None and people[0] >= 2

    assert (await verify_trail(trail)).problems == []
    await trail.execute(
        "UPDATE audit_row SET body = replace(body, '\"R1\"', '\"R9\"')"
        " WHERE type = 'notice.acknowledged'"
    )
    problems = (await verify_trail(trail)).problems
    assert len(problems) == 1
    assert "内容被改动" in problems[0] and "ack-hazard:H1:" in problems[0]


def invoke(settings: Settings, *args: str) -> Result:
    env = {
        "DUBAN_AUDIT_DSN": settings.audit_dsn.get_secret_value(),
        "DUBAN_REDIS_URL": settings.redis_url,
    }
    return CliRunner().invoke(app, list(args), env=env)


async def test_trace_export_and_verify_commands(
    audit_settings: Settings,
    clock: FakeClock,
    smtp,
    publish,
    register_unit,
    trail,
    tmp_path: Path,
) -> None:
    s = audit_settings
    engine, notifier = create_engine(s, clock=clock), create_notifier(s, clock=clock)
    async with running(engine.app), running(notifier.app), running_audit(s, clock=clock):
        notice_id = await story_in_trail(s, clock, publish, register_unit, trail)

    text = await asyncio.to_thread(invoke, s, "trace", HAZARD)
    assert text.exit_code == 0, text.output
    for label in ("收到事件：隐患上报", "决定发送上报通知", "已发出（渠道已接收）", "已确认收到"):
        assert label in text.stdout
    assert "下一步计划" in text.stdout  # the engine's timeline from Redis

    as_json = json.loads(
        (await asyncio.to_thread(invoke, s, "trace", HAZARD, "--format", "json")).stdout
    )
    kinds = [step["kind"] for step in as_json["steps"]]
    assert kinds.count("notice") == 2 and kinds.count("acknowledged") == 1
    assert as_json["planned"], "the planned steps"

    rows = list(
        csv.reader(
            io.StringIO(
                (await asyncio.to_thread(invoke, s, "trace", HAZARD, "--format", "csv")).stdout
            )
        )
    )
    assert rows[0][0] == "时间" and any(r[1] == "确认" for r in rows[1:])

    sheet = tmp_path / "trace.html"
    html = await asyncio.to_thread(invoke, s, "trace", HAZARD, "--format", "html", "-o", str(sheet))
    assert html.exit_code == 0
    page = sheet.read_text(encoding="utf-8")
    assert "白土镇安全生产委员会办公室" in page and "生成时间" in page and "按收件人" in page

    book_path = tmp_path / "export.xlsx"
    exported = await asyncio.to_thread(
        invoke,
        s,
        "audit",
        "export",
        "--from",
        "2026-09-01",
        "--to",
        "2026-09-30",
        "--format",
        "xlsx",
        "-o",
        str(book_path),
    )
    assert exported.exit_code == 0, exported.output
    sheet_rows = list(openpyxl.load_workbook(book_path).active.iter_rows(values_only=True))
    header, lines = sheet_rows[0], sheet_rows[1:]
    named = [dict(zip(header, line, strict=True)) for line in lines]
    mine = [n for n in named if n["通知编号"] == notice_id and n["人员编号"] == "R1"]
    sent = [n for n in mine if n["结果"] != "未发送"]  # later channels were not needed
    assert [(n["渠道"], n["结果"]) for n in sent] == [("email", "已发出")]
    assert sent[0]["确认方式"] == "确认链接" and sent[0]["邮箱"] == "r***@unit.example"

    unmasked = await asyncio.to_thread(
        invoke, s, "audit", "export", "--from", "2026-09-01", "--to", "2026-09-30", "--unmasked"
    )
    parsed = list(csv.DictReader(io.StringIO(unmasked.stdout)))
    hazard_lines = [r for r in parsed if r["事项编号"] == HAZARD]
    assert {r["邮箱"] for r in hazard_lines} == {"r1@unit.example", "c1@unit.example"}

    ok = await asyncio.to_thread(invoke, s, "audit", "verify")
    assert ok.exit_code == 0 and "审计记录完好" in ok.stdout
    await trail.execute(
        "DELETE FROM audit_row WHERE type = 'notice.delivered'"
        " AND body::jsonb -> 'data' ->> 'person_id' = 'R1'"
    )
    broken = await asyncio.to_thread(invoke, s, "audit", "verify", "--subject", notice_id)
    assert broken.exit_code == 1
    assert "被删除" in broken.stderr and notice_id in broken.stderr
