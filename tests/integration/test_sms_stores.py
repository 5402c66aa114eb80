"""The Redis side of SMS after the send, on the real Redis: a delivery waits once, its first
report settles it (a duplicate, another mobile's or an unknown one does not), a failure
makes it due at once, a fallback is taken once; reply codes are unique among a mobile's
codes, kept across repeats, expire, and are used up by an acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from services.notifier.render import sample_facts
from services.sms.awaiting import Awaiting, RedisAwaiting
from services.sms.pushes import DeliveryReport
from services.sms.replycodes import CodeOwner, NoFreeCode, RedisReplyCodes, code_key

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
MOBILE = "13900000001"
KEY = "H1:major-overdue:letter:0:R1:aliyun_sms"


def waiting(key: str = KEY) -> Awaiting:
    notice = NoticeRequested(
        notice_id="H1:major-overdue:letter",
        occurrence=0,
        kind="escalation",
        action="letter",
        subject="H1",
        due_at=NOW,
        recipient=Recipient(person_id="R1", role="principal", mobile=MOBILE),
        channels=[ChannelPlan(channel="aliyun_sms"), ChannelPlan(channel="email")],
        facts=sample_facts("escalation", "letter"),
    )
    return Awaiting(key, notice, "aliyun_sms", 1, NOW, "aliyun", "900619746936499^0", MOBILE)


def report(
    success: bool, mobile: str = MOBILE, key: str | None = KEY, biz_id: str = "900619746936499^0"
) -> DeliveryReport:
    return DeliveryReport(
        "aliyun", key, biz_id, mobile, success, "DELIVERED" if success else "MBBLACK", "",
        NOW + timedelta(seconds=5),
    )  # fmt: skip


async def test_a_delivery_waits_once_and_its_first_report_settles_it(redis: Redis) -> None:
    store = RedisAwaiting(redis)
    assert await store.register(waiting(), NOW + timedelta(minutes=10))
    assert not await store.register(waiting(), NOW + timedelta(minutes=99))  # again: no change
    assert await store.find(report(True, key=None)) == KEY  # by BizId
    assert await store.find(report(True, key="H9:x")) == KEY  # an OutId not ours: by BizId
    assert await store.find(report(True, key="H9:x", biz_id="1^0")) is None
    assert await store.take_report(KEY, report(True, mobile="13900000002"), NOW) == (
        "mismatch",
        None,
    )
    taken, item = await store.take_report(KEY, report(True), NOW)
    assert taken == "first" and item is not None and item.report == "reached"
    assert item.notice.recipient.person_id == "R1" and item.receipt == "pending"
    assert (await store.take_report(KEY, report(True), NOW))[0] == "again"  # receipt not out yet
    await store.receipt_published(KEY)
    assert await store.take_report(KEY, report(False), NOW) == ("duplicate", None)
    assert await store.take_report("H9:x", report(True), NOW) == ("unknown", None)
    assert await store.due(NOW + timedelta(hours=1), 10, 30) == []  # reached: never due
    ttl = await redis.ttl(f"duban:sms:delivery:{KEY}")
    assert 7 * 86400 < ttl <= 7 * 86400 + 600


async def test_a_failure_is_due_at_once_and_its_fallback_taken_once(redis: Redis) -> None:
    store = RedisAwaiting(redis)
    await store.register(waiting(), NOW + timedelta(minutes=10))
    assert await store.due(NOW, 10, 30) == []
    assert (await store.take_report(KEY, report(False), NOW))[0] == "first"
    assert await store.due(NOW, 10, 30) == [KEY]
    assert await store.due(NOW, 10, 30) == []  # leased
    item = await store.begin_fallback(KEY)
    assert item is not None and item.report == "failed" and item.report_code == "MBBLACK"
    await store.fallback_done(KEY)
    assert await store.begin_fallback(KEY) is None
    assert await store.due(NOW + timedelta(hours=1), 10, 30) == []


async def test_silence_makes_it_due_and_a_late_report_does_not_undo_the_fallback(
    redis: Redis,
) -> None:
    store = RedisAwaiting(redis)
    await store.register(waiting(), NOW + timedelta(minutes=10))
    assert await store.due(NOW + timedelta(minutes=9), 10, 30) == []
    assert await store.due(NOW + timedelta(minutes=10), 10, 30) == [KEY]
    item = await store.begin_fallback(KEY)
    assert item is not None and item.report == ""
    taken, late = await store.take_report(KEY, report(True), NOW + timedelta(minutes=11))
    assert taken == "first" and late is not None and late.fallback == "taken"
    await store.fallback_done(KEY)
    assert await store.due(NOW + timedelta(hours=2), 10, 30) == []


async def test_reply_codes_repeat_per_notice_expire_and_are_used_up(redis: Redis) -> None:
    codes = RedisReplyCodes(redis)
    owner = CodeOwner("H1:major-overdue:letter", "R1")
    code = await codes.issue(MOBILE, owner, NOW, ttl_s=86400)
    assert code.isdigit() and len(code) == 4
    assert await codes.issue(MOBILE, owner, NOW + timedelta(hours=1), ttl_s=86400) == code
    assert await codes.look_up(MOBILE, code, NOW) == ("live", owner)
    assert await codes.look_up("13900000002", code, NOW) == ("unknown", None)
    assert await codes.look_up(MOBILE, code, NOW + timedelta(days=1)) == ("expired", owner)
    await codes.acknowledged(MOBILE, code, NOW)
    assert await codes.look_up(MOBILE, code, NOW) == ("replayed", owner)
    ttl = await redis.ttl(code_key(MOBILE, code))
    assert 86400 < ttl <= 86400 + 7 * 86400
    renewed = await codes.issue(MOBILE, owner, NOW + timedelta(days=2), ttl_s=86400)
    assert renewed != code


async def test_codes_are_unique_among_a_mobiles_codes(redis: Redis) -> None:
    draws = iter([["1111", "2222"], ["1111", "2222", "3333"], ["1111", "2222"]])
    codes = RedisReplyCodes(redis, draw=lambda: next(draws))
    first = await codes.issue(MOBILE, CodeOwner("N1", "R1"), NOW, ttl_s=86400)
    second = await codes.issue(MOBILE, CodeOwner("N2", "R1"), NOW, ttl_s=86400)
    assert (first, second) == ("1111", "2222")  # 1111 was taken: the next candidate
    other = RedisReplyCodes(redis, draw=lambda: ["1111"])
    assert await other.issue("13900000002", CodeOwner("N3", "R2"), NOW, ttl_s=86400) == "1111"
    with pytest.raises(NoFreeCode):
        await codes.issue(MOBILE, CodeOwner("N4", "R1"), NOW, ttl_s=86400)
