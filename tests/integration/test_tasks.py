"""Supervised tasks (督办事项) on the real stack: a task.assigned on the task topic ends as a
reminder email in real SMTP, and its completion as the closure email, nothing after it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from email.header import decode_header, make_header

from redis.asyncio import Redis

from deploy.local.standins.smtp import FakeSmtpServer
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.helpers import at
from tests.integration.conftest import read_topic, wait_for
from tests.unit.test_tasks import assigned, task_event


def subject_of(mail) -> str:
    return str(make_header(decode_header(mail.message["Subject"])))


def task_mails(smtp: FakeSmtpServer) -> list[tuple[str, str]]:
    """(subject, recipient) of every email about the task."""
    return [
        (subject_of(m), rcpt)
        for m in smtp.messages
        for rcpt in m.rcpt_tos
        if "报送安全生产专项整治方案" in subject_of(m)
    ]


async def test_an_assigned_task_is_reminded_by_email_and_closed_on_completion(
    settings: Settings, clock: FakeClock, smtp: FakeSmtpServer, publish, redis: Redis
) -> None:
    # The clock stands at 2026-09-01 10:00 (Tuesday): the deadline is Thursday's end, so
    # the 1-day reminder is due on Wednesday 09:00 and the 3-day one was before duban knew.
    task = assigned("T-9", at("2026-09-01 10:00"), date(2026, 9, 3))
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await publish(settings.topics.task_events, task)
        await wait_for(lambda: redis.exists("duban:task:T-9"), what="the task stored")
        assert task_mails(smtp) == []  # nothing is due yet
        clock.advance(timedelta(days=1))  # Wednesday 10:00
        await wait_for(lambda: len(task_mails(smtp)) >= 1, what="the reminder email")
        completed = task_event(
            "task.completed", "T-9", at("2026-09-02 09:50"), completed_at=at("2026-09-02 09:40")
        )
        await publish(settings.topics.task_events, completed)
        await wait_for(lambda: len(task_mails(smtp)) >= 2, what="the closure email")
        clock.advance(timedelta(days=10))  # past the deadline: the ladder must not start
        requested = await read_topic(settings.kafka_bootstrap, settings.topics.notice_requested, 2)
    mails = task_mails(smtp)
    assert mails == [
        (
            "【督办事项到期提醒】报送安全生产专项整治方案（距完成时限1天）",
            "emergency@duban.example",
        ),
        ("【办结确认】报送安全生产专项整治方案（应急管理办公室）", "emergency@duban.example"),
    ]
    about_task = [json.loads(r.value)["data"] for r in requested]
    about_task = [
        d for d in about_task if d["subject"] == "T-9" and d["recipient"]["role"] != "group"
    ]
    # Notices are keyed by notice id: they may be read back from different partitions.
    about_task.sort(key=lambda d: d["kind"] != "reminder")
    assert [(d["kind"], d["notice_id"].split(":")[:3]) for d in about_task] == [
        ("reminder", ["task", "T-9", "task-reminders"]),
        ("closure", ["task", "T-9", "task-closure"]),
    ]
    assert about_task[0]["facts"]["subject_kind"] == "task"
    assert about_task[0]["facts"]["owner"] == "应急管理办公室"
