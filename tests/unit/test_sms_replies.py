"""Acknowledgement by SMS reply, in memory: an SMS that asks for acknowledgement carries the
notice's code (the same on every repeat); a reply with that live code from that mobile
publishes notice.acknowledged with the link's event id; a wrong, expired or another
person's code, or one already used, acknowledges nothing and is logged masked."""

from __future__ import annotations

import logging

import pytest

from services.ack.acked import MemoryAcked
from services.ack.app import acknowledgement_id
from services.notifier.render import TemplateSet
from services.sms.replycodes import candidates, codes_in
from tests.unit.smskit import EXAMPLE, MOBILE, Loop, loop, notice, reply

NOTICE = "H1:major-overdue:letter:2026-08-31"
OTHER_MOBILE = "13900000002"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


@pytest.fixture
async def lp(templates: TemplateSet) -> Loop:
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms", "email"))
    return lp


def code_of(lp: Loop, index: int = 0, channel: str = "aliyun_sms") -> str:
    return lp.sms(channel)[index].sms_params["code"]


async def test_the_sms_carries_a_code_that_repeats_keep_and_other_notices_do_not_share(
    lp: Loop,
) -> None:
    await lp.deliver(notice("aliyun_sms", "email", occurrence=1))
    await lp.deliver(notice("aliyun_sms", "email", notice_id="H2:major-overdue:letter:x"))
    first, repeat, other = code_of(lp, 0), code_of(lp, 1), code_of(lp, 2)
    assert first.isdigit() and len(first) == 4
    assert repeat == first and other != first
    assert list(lp.sms()[0].sms_params) == ["unit", "level", "title", "overdue", "code"]


async def test_an_sms_whose_template_asks_for_no_code_gets_none(templates: TemplateSet) -> None:
    lp = loop(templates)
    await lp.deliver(notice("aliyun_sms", kind="closure", notice_id="H1:closure"))
    assert "code" not in lp.sms()[0].sms_params and lp.codes.codes == {}


async def test_the_right_code_acknowledges_once_with_the_links_event_id(lp: Loop) -> None:
    lp.later(minutes=2)  # the reply was sent a minute after the SMS: that is when
    assert await lp.ack.reply(reply(code_of(lp))) == "acknowledged"
    [(topic, event, key)] = lp.broker.published
    assert topic == "notice.acks" and key == NOTICE.encode()
    assert event["type"] == "notice.acknowledged" and event["subject"] == NOTICE
    assert event["id"] == acknowledgement_id(NOTICE, "R1")
    assert event["data"] == {
        "notice_id": NOTICE,
        "person_id": "R1",
        "acknowledged_at": "2026-09-01T02:01:00Z",
        "channel": "sms_reply",
    }


@pytest.mark.parametrize("text", ["{code}", " 好的，{code} 收到", "回复{code}确认", "{wide}"])
async def test_the_code_is_found_in_what_people_actually_reply(lp: Loop, text: str) -> None:
    code = code_of(lp)
    wide = "".join(chr(ord(d) + 0xFEE0) for d in code)  # full-width digits (Chinese IME)
    assert await lp.ack.reply(reply(text.format(code=code, wide=wide))) == "acknowledged"


async def test_a_replayed_code_acknowledges_nothing_more(lp: Loop) -> None:
    code = code_of(lp)
    assert await lp.ack.reply(reply(code)) == "acknowledged"
    assert await lp.ack.reply(reply(code)) == "replayed"
    assert len(lp.broker.published) == 1


async def test_a_wrong_code_acknowledges_nothing_and_is_logged_masked(
    lp: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = next(c for c in candidates() if c != code_of(lp) and len(c) == 4)
    with caplog.at_level(logging.INFO, logger="duban.ack"):
        assert await lp.ack.reply(reply(wrong)) == "unknown_code"
    assert lp.broker.published == []
    assert "139****0001" in caplog.text and MOBILE not in caplog.text
    assert wrong not in caplog.text and f"{wrong[0]}***" in caplog.text


async def test_another_persons_code_acknowledges_nothing(lp: Loop) -> None:
    mine = code_of(lp)
    lp.codes.draw = lambda: [c for c in candidates() if c != mine]  # C1 gets another code
    await lp.deliver(notice("aliyun_sms", person="C1", mobile=OTHER_MOBILE))
    theirs = code_of(lp, 1)
    assert await lp.ack.reply(reply(theirs, mobile=MOBILE)) == "unknown_code"
    assert lp.broker.published == []
    assert await lp.ack.reply(reply(theirs, mobile=OTHER_MOBILE)) == "acknowledged"
    assert [e["data"]["person_id"] for _, e, _ in lp.broker.published] == ["C1"]


async def test_an_expired_code_acknowledges_nothing(lp: Loop) -> None:
    lp.later(days=30)
    assert await lp.ack.reply(reply(code_of(lp))) == "expired"
    assert lp.broker.published == []


async def test_a_reply_without_a_code_acknowledges_nothing(lp: Loop) -> None:
    assert await lp.ack.reply(reply("收到，马上整改")) == "no_code"
    assert lp.broker.published == []


async def test_a_notice_acknowledged_on_the_page_first_is_not_acknowledged_again(
    lp: Loop,
) -> None:
    acked = MemoryAcked()
    lp.ack.acked = acked
    await acked.remember(acknowledgement_id(NOTICE, "R1"), lp.clock.now())
    assert await lp.ack.reply(reply(code_of(lp))) == "replayed"
    assert lp.broker.published == []


async def test_a_reply_acknowledgement_is_remembered_for_the_page(lp: Loop) -> None:
    acked = MemoryAcked()
    lp.ack.acked = acked
    assert await lp.ack.reply(reply(code_of(lp))) == "acknowledged"
    assert await acked.taken_at(acknowledgement_id(NOTICE, "R1")) is not None


async def test_a_repeat_after_the_code_expired_carries_a_new_one(lp: Loop) -> None:
    lp.later(days=30, seconds=1)
    await lp.deliver(notice("aliyun_sms", "email", occurrence=3))
    fresh = code_of(lp, 1)
    assert fresh != code_of(lp, 0)
    assert await lp.ack.reply(reply(fresh)) == "acknowledged"


def test_codes_are_4_digits_then_6_and_digit_runs_outside_4_to_6_are_not_codes() -> None:
    drawn = candidates()
    assert [len(c) for c in drawn] == [4] * 12 + [6] * 12 and all(c.isdigit() for c in drawn)
    assert codes_in("回复4271确认，电话13900000001，2026年") == ["4271", "2026"]
    assert codes_in("123 1234567") == []
