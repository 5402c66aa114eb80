"""People on the real stack: person.upserted kept in Redis, and a responsible person known
only through it reached on their own channel (e-mail through a real SMTP server)."""

from __future__ import annotations

from datetime import date
from email.header import decode_header, make_header

from redis.asyncio import Redis

from deploy.local.standins.smtp import FakeSmtpServer
from services.engine.app import create_engine
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from services.store.entities import RedisEntityStore
from services.store.keys import person_key
from tests.fakes import FakeClock
from tests.helpers import at, reported, unit_upserted
from tests.integration.conftest import wait_for
from tests.unit.test_people import check_person_book, person_upserted

WS1_EMAIL = "ws1@people.example"


def subject_of(mail) -> str:
    return str(make_header(decode_header(mail.message["Subject"])))


async def test_the_redis_store_keeps_the_person_contract(redis: Redis) -> None:
    await check_person_book(RedisEntityStore(redis))


async def test_a_person_known_only_through_person_upserted_gets_the_reminder_by_email(
    settings: Settings,
    clock: FakeClock,
    smtp: FakeSmtpServer,
    redis: Redis,
    publish,
    register_unit,
) -> None:
    engine, notifier = create_engine(settings, clock=clock), create_notifier(settings, clock=clock)
    async with running(engine.app), running(notifier.app):
        await register_unit(unit_upserted("U1", at("2026-08-01 08:00")))
        # A workshop head: neither a unit contact nor in directory.yaml.
        await publish(
            settings.topics.duty_events,
            person_upserted("WS1", at("2026-08-20 08:00"), email=WS1_EMAIL, title="储运车间主任"),
        )
        # A stale record of the same person, published later, must not win.
        await publish(
            settings.topics.duty_events,
            person_upserted("WS1", at("2026-08-10 08:00"), email="stale@people.example"),
        )
        await wait_for(
            lambda: _stored_email(redis, WS1_EMAIL), what="the newer person record stored"
        )
        report = reported("H1", at("2026-09-01 09:00"), date(2026, 9, 5), responsible=("WS1",))
        await publish(settings.topics.hazard_events, report)
        await wait_for(lambda: len(smtp.messages) >= 2, timeout_s=60, what="the two report e-mails")
        clock.set(at("2026-09-02 09:00"))  # the reminder 3 days before the deadline is due
        await wait_for(
            lambda: any(WS1_EMAIL in m.rcpt_tos for m in smtp.messages),
            what="the reminder e-mail to the workshop head",
        )
    reminders = [m for m in smtp.messages if WS1_EMAIL in m.rcpt_tos]
    assert len(reminders) == 1
    assert "整改" in subject_of(reminders[0])
    everyone = {rcpt for m in smtp.messages for rcpt in m.rcpt_tos}
    assert "stale@people.example" not in everyone
    assert "aqb@duban.example" not in everyone  # nobody fell back to the committee office
    assert await _stored_email(redis, WS1_EMAIL)


async def _stored_email(redis: Redis, email: str) -> bool:
    stored = await redis.hget(person_key("WS1"), "s")
    return stored is not None and email in stored.decode()
