"""The audit trail in memory: entries, the hash chain and verify, retention, the story,
the export's formatting and masking."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from contracts.registry import InputLimits
from contracts.topics import DLQ_HEADER_REASON, Topics
from services.audit import export, formats
from services.audit.chain import Head, Row, seal, verify
from services.audit.retention import AUDIT_FILE, Retention, add_period, audit_config_problems
from services.audit.rows import AuditRecord, Entry, Unreadable, entry_of, person_version
from services.audit.schema import migrations
from services.audit.service import console_token, loopback
from services.audit.story import build_story
from services.audit.writer import first_of_each, lock_key
from services.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
TOPICS = Topics()
ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def record(name: str, topic: str, offset: int = 0, **headers: str) -> AuditRecord:
    value = (EXAMPLES / f"{name}.json").read_bytes()
    return AuditRecord(
        value, topic, 0, offset, b"k", headers=headers, timestamp_ms=1_777_000_000_000
    )


def entry(name: str, topic: str, offset: int = 0) -> Entry:
    found = entry_of(record(name, topic, offset), TOPICS, InputLimits())
    assert found is not None
    return found


def chain(entries: list[Entry]) -> list[Row]:
    heads: dict[str, Head] = {}
    rows = []
    for n, e in enumerate(entries, start=1):
        row = replace(seal(e, heads.get(e.subject), NOW, NOW + timedelta(days=365)), seq=n)
        heads[e.subject] = Head(row.chain_no, row.hash)
        rows.append(row)
    return rows


def notice_story() -> list[Entry]:
    return [
        entry("notice.requested", TOPICS.notice_requested, 1),
        entry("notice.delivered", TOPICS.notice_receipts, 2),
        entry("notice.reached", TOPICS.notice_receipts, 3),
        entry("notice.acknowledged", TOPICS.notice_acks, 4),
    ]


def test_a_notice_keeps_its_recipient_as_a_person_version_not_its_contacts() -> None:
    e = entry("notice.requested", TOPICS.notice_requested)
    assert e.record_class == "notice" and e.root == "HZ-2026-0317"
    assert "13700000007" not in e.body and "zhanglei@" not in e.body
    [person] = e.people
    assert person.details["mobile"] == "13700000007"
    assert json.loads(e.body)["data"]["recipient"]["person_version"] == person.digest
    assert person_version(person.person_id, person.details) == person  # same details, same id


def test_unit_and_person_records_keep_contacts_once_too() -> None:
    unit = entry("unit.upserted", TOPICS.duty_events)
    assert unit.people and all(
        p.details["mobile"] not in unit.body for p in unit.people if p.details["mobile"]
    )
    person = entry("person.upserted", TOPICS.duty_events)
    assert "13800000007" not in person.body and person.people[0].person_id == "P-BT-0042-07"


def test_an_invalid_inbound_event_is_left_to_the_dead_letter_topic() -> None:
    bad = AuditRecord(b'{"type": "hazard.reported"}', TOPICS.hazard_events, 0, 7)
    assert entry_of(bad, TOPICS, InputLimits()) is None


def test_garbage_on_duban_s_own_topics_is_unreadable() -> None:
    with pytest.raises(Unreadable, match="not JSON"):
        entry_of(AuditRecord(b"\xff{", TOPICS.notice_receipts, 0, 3), TOPICS, InputLimits())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": ""}, "no id"),
        ({"source": None}, "no source"),
        ({"type": 7}, "no type"),
        ({"subject": "a\x00b"}, "no subject"),
        ({"subject": ["s"], "time": {}}, "no subject, time"),
        ({"time": "yesterday"}, "time 'yesterday'"),
        ({"time": "2026-09-01T08:00:00+08:00\u2028"}, "time"),
    ],
)
def test_an_own_topic_record_without_a_whole_envelope_is_unreadable(
    change: dict[str, object], reason: str
) -> None:
    event = json.loads((EXAMPLES / "notice.delivered.json").read_text(encoding="utf-8"))
    value = json.dumps({**event, **change}).encode()
    with pytest.raises(Unreadable, match=re.escape(reason)):
        entry_of(AuditRecord(value, TOPICS.notice_receipts, 0, 3), TOPICS, InputLimits())


def test_an_own_topic_record_keeps_the_time_it_gives() -> None:
    event = json.loads((EXAMPLES / "notice.delivered.json").read_text(encoding="utf-8"))
    value = json.dumps({**event, "time": "2026-09-01T08:00:00.5+08:00"}).encode()
    e = entry_of(AuditRecord(value, TOPICS.notice_receipts, 0, 3), TOPICS, InputLimits())
    assert e is not None and e.occurred_at == datetime(2026, 9, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    assert e.occurred_at.utcoffset() == timedelta(hours=8)


def test_a_dead_letter_keeps_reason_and_origin_by_its_own_position() -> None:
    dead = record("hazard.reported", TOPICS.dlq_events, 9, **{DLQ_HEADER_REASON: "level: bad"})
    e = entry_of(dead, TOPICS, InputLimits())
    assert e is not None and e.record_class == "dead_letter"
    assert e.event_id == f"{TOPICS.dlq_events}[0]@9" and e.subject == "HZ-2026-0317"
    assert json.loads(e.body)["reason"] == "level: bad"
    garbage = AuditRecord(b"\x00\xff", TOPICS.dlq_events, 1, 2, key=None)
    kept = entry_of(garbage, TOPICS, InputLimits())
    assert kept is not None and kept.subject == "dead-letter"


def test_an_intact_chain_verifies() -> None:
    rows = chain(notice_story())
    assert [r.chain_no for r in rows] == [1, 2, 3, 4]
    assert list(verify(rows, {rows[-1].subject: Head(4, rows[-1].hash)})) == []


def test_verify_names_an_altered_row() -> None:
    rows = chain(notice_story())
    rows[1] = replace(rows[1], body=rows[1].body.replace("wecom", "sms"))
    [problem] = verify(rows)
    assert problem.chain_no == 2 and "内容被改动" in str(problem)


def test_verify_names_a_removed_row() -> None:
    rows = chain(notice_story())
    [problem] = verify([rows[0], *rows[2:]])
    assert problem.chain_no == 2 and "被删除" in str(problem)


def test_verify_names_removed_last_rows_from_the_recorded_head() -> None:
    rows = chain(notice_story())
    [problem] = verify(rows[:2], {rows[0].subject: Head(4, rows[-1].hash)})
    assert "末尾第 3–4 行被删除" in str(problem)


def test_verify_names_reordered_rows() -> None:
    rows = chain(notice_story())
    found = [str(p) for p in verify([rows[0], rows[2], rows[1], rows[3]])]
    assert any("顺序被调换" in p for p in found)


def test_verify_names_a_subject_removed_entirely() -> None:
    [problem] = verify([], {"gone": Head(3, b"x")})
    assert problem.subject == "gone" and "整条记录链被删除" in str(problem)


def test_a_batch_keeps_the_first_of_each_event_in_order() -> None:
    a, b = notice_story()[:2]
    assert first_of_each([a, b, a]) == [a, b]
    assert lock_key("x") == lock_key("x") and lock_key("x") >= 7_310_000_000


def test_retention_defaults_and_periods(tmp_path: Path) -> None:
    retention = Retention()
    moment = datetime(2028, 2, 29, tzinfo=UTC)
    assert retention.keep_until("notice", moment) == datetime(2033, 2, 28, tzinfo=UTC)
    assert retention.keep_until("inbound", moment) == datetime(2029, 2, 28, tzinfo=UTC)
    assert add_period(moment, "10d") == moment + timedelta(days=10)
    assert audit_config_problems(tmp_path) == []  # no audit.yaml: the defaults
    (tmp_path / AUDIT_FILE).write_text("retention:\n  notice: 5 years\n  receipts: 5y\n")
    problems = [str(p) for p in audit_config_problems(tmp_path)]
    assert any("audit.yaml:2: retention.notice" in p and "5y" in p for p in problems)
    assert any("retention.receipts" in p and "未知的键" in p for p in problems)


def test_migrations_are_numbered_in_order() -> None:
    found = migrations()
    assert [m.version for m in found] == sorted(m.version for m in found)
    assert found[0].name == "001_trail.sql"


def test_the_story_labels_each_step_in_chinese() -> None:
    rows = chain(notice_story())
    story = build_story("ntc", rows, {})
    labels = [s.label for s in story.steps]
    assert labels == [
        "决定发送督办（letter）",
        "已发出（渠道已接收）",
        "已送达手机",
        "已确认收到（urn:baitu:wecom-gateway）",  # an ack source without a label
    ]
    text = formats.as_text(story, ZONE)
    assert "服务商消息编号：900619746936498^0" in text
    parsed = list(csv.reader(io.StringIO(formats.as_csv(story, ZONE))))
    assert parsed[0][0] == "时间" and len(parsed) == 5


def test_the_export_masks_contacts_unless_asked() -> None:
    rows = chain(notice_story())
    person = notice_story()[0].people[0]
    people = {person.digest: person.details}
    [wecom, sms] = export.outcome_rows(rows, people, ZONE)
    assert (wecom["channel"], sms["channel"]) == ("wecom", "sms")
    assert wecom["outcome"] == "已发出" and sms["outcome"] == "未发送"
    assert wecom["provider_message_id"] != ""
    assert sms["mobile"] == "137****0007" and sms["email"] == "z***@baitu.gov.example"
    assert sms["acknowledged_by"] == "urn:baitu:wecom-gateway"
    [_, full] = export.outcome_rows(rows, people, ZONE, unmasked=True)
    assert full["mobile"] == "13700000007"
    assert export.outcome_rows(rows, people, ZONE, export.Filter(region="elsewhere")) == []


def test_the_export_formats_parse_back(tmp_path: Path) -> None:
    rows = chain(notice_story())
    lines = export.outcome_rows(rows, {}, ZONE)
    parsed = list(csv.DictReader(io.StringIO(export.as_csv(lines))))
    assert [r["渠道"] for r in parsed] == ["wecom", "sms"]
    book = tmp_path / "x.xlsx"
    book.write_bytes(export.as_xlsx(lines))
    sheet = openpyxl.load_workbook(book).active
    assert sheet["A1"].value == "通知编号" and sheet.max_row == 3


def test_the_console_binds_beyond_loopback_only_with_a_token() -> None:
    assert loopback("127.0.0.1") and loopback("::1") and not loopback("0.0.0.0")
    with pytest.raises(RuntimeError, match="DUBAN_CONSOLE_TOKEN"):
        console_token(Settings(console_host="0.0.0.0"))
    assert console_token(Settings(console_host="0.0.0.0", console_token="s3cret-token")) == (
        "s3cret-token"
    )


async def test_console_pages_need_the_token_and_health_does_not() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from services.audit.console import COOKIE, Console, cookie_of

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="page")

    console = Console(None, None, None, None, "t0ken-value")  # type: ignore[arg-type]
    app = web.Application(middlewares=[console.guard])
    app.router.add_get("/", page)
    app.router.add_get("/healthz", page)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/")).status == 401
        assert (await client.get("/?token=wrong")).status == 401
        assert (await client.get("/healthz")).status == 200
        first = await client.get("/?token=t0ken-value")
        assert first.status == 200 and first.cookies[COOKIE].value == cookie_of("t0ken-value")
        assert "t0ken-value" not in first.cookies[COOKIE].value
        assert (await client.get("/")).status == 200  # the cookie carries on
        bearer = {"Authorization": "Bearer t0ken-value"}
        assert (await client.get("/", headers=bearer, cookies={})).status == 200


def test_the_simulation_page_has_a_timeline_per_subject() -> None:
    from services.audit.html import Page
    from services.audit.naming import naming
    from services.audit.simhtml import simulate_page, simulated_steps
    from services.simulate import Rejected, read_event_file, simulate

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "example.jsonl"
    config = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
    names = naming(config)
    events = [e for e in read_event_file(scenario.read_text()) if not isinstance(e, Rejected)]
    notices = list(simulate(events, names.rules))
    subjects = simulated_steps(notices, names)
    assert sum(len(steps) for _, steps in subjects) == len(notices)
    timing = names.rules.timing
    html = simulate_page(subjects, Page("某安委办", ZONE, timing.calendar, NOW), "x.jsonl")
    assert html.count('class="timeline"') == len(subjects)
    assert "某安委办" in html and "step-notice" in html and "day rest" in html


def test_the_calendar_strip_keeps_what_happened_in_view() -> None:
    from services.audit.html import MAX_STRIP_DAYS, Page
    from services.audit.naming import naming
    from services.audit.story import Step

    config = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"
    calendar = naming(config).rules.timing.calendar
    page = Page("安委办", ZONE, calendar, NOW)
    sent = Step(NOW, "notice", "决定发送")
    steps = [sent, Step(NOW + timedelta(days=120), "planned", "计划"), Step(NOW, "receipt", "x")]
    strip = page.strip(steps)
    assert len(strip) == MAX_STRIP_DAYS and strip[0].day == NOW.astimezone(ZONE).date()
    assert strip[0].marks == ("✉",)
    assert any(not d.working for d in strip)  # weekends are rest days
