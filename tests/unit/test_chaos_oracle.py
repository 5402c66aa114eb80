"""The chaos oracle's judgement of what the stand-ins took: Feishu messages mapped back
from their request uuid, copies counted per channel, and a notice due just before its
hazard's closure accepted either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notifier.channels.feishu_app import request_uuid
from tests.chaos.inbox import Received
from tests.chaos.oracle import Delivery, Due, compare, raced

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
REMINDER: Delivery = ("hazard:H9:reminder:m1:20261204T090100Z", "0", "P1")
REPORT: Delivery = ("hazard:H9:report:report:20261204T085900Z", "0", "P1")
LETTER: Delivery = ("hazard:H3:overdue:letter:20261204T090200Z", "0", "P3")


def key(delivery: Delivery, channel: str) -> str:
    return ":".join((*delivery, channel))


def closed(hazard: str, at: datetime) -> dict[str, object]:
    return {"type": "hazard.closed", "subject": hazard, "time": at.isoformat()}


def test_feishu_uuids_map_back_and_sms_copies_count_each() -> None:
    due = Due({REMINDER: AT, LETTER: AT})
    received = [
        Received(request_uuid(key(REMINDER, "feishu_app")), "feishu_app", AT.timestamp()),
        Received(key(LETTER, "aliyun_sms"), "aliyun_sms", AT.timestamp()),
        Received(key(LETTER, "aliyun_sms"), "aliyun_sms", AT.timestamp() + 1),
        Received("a-uuid-of-no-delivery", "feishu_app", AT.timestamp()),
    ]
    verdict = compare(due, {REMINDER, LETTER}, received, late_after_s=60)
    figures = verdict.figures()
    assert figures["lost"] == 0 and figures["delivered"] == 2
    assert figures["delivered_by_channel"] == {"feishu_app": 1, "aliyun_sms": 1}
    assert figures["duplicated_by_channel"] == {
        "feishu_app": 0,
        "aliyun_sms": 1,  # every SMS accepted is one on the phone
        "email": 0,
        "webhook": 0,
    }
    assert verdict.unexpected == [("?", "?", "a-uuid-of-no-delivery")]


def test_a_notice_due_just_before_its_closure_may_go_either_way() -> None:
    due = Due({REMINDER: AT, REPORT: AT - timedelta(seconds=30)})
    due.raced = raced(due, [closed("H9", AT + timedelta(seconds=0.5))])
    assert due.raced == {REMINDER}  # the report was due long before the closure
    missing = compare(due, {REMINDER, REPORT}, [Received(key(REPORT, "email"), "email", 0)], 60)
    assert missing.figures()["lost"] == 0 and missing.raced_not_sent == 1
    assert missing.expected == missing.delivered == 1
    both = [Received(key(d, "email"), "email", AT.timestamp()) for d in (REMINDER, REPORT)]
    sent = compare(due, {REMINDER, REPORT}, both, 60)
    assert sent.expected == sent.delivered == 2 and sent.raced_not_sent == 0


def test_a_closure_long_after_a_notice_due_races_nothing() -> None:
    due = Due({REMINDER: AT})
    assert raced(due, [closed("H9", AT + timedelta(seconds=5))]) == frozenset()
    assert raced(due, [closed("H8", AT + timedelta(seconds=0.5))]) == frozenset()
    due.raced = raced(due, [])
    assert compare(due, {REMINDER}, [], 60).lost == [REMINDER]
