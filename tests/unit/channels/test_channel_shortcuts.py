"""The adapters' shortcuts send the bytes the long way would have sent."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from contracts.notice import NoticeRequested
from services.notifier.channels._answers import json_object
from services.notifier.channels._http import HttpAnswer
from services.notifier.channels.email import EmailChannel, EmailSettings
from services.notifier.channels.feishu import FeishuChannel, FeishuSettings, feishu_sign
from services.notifier.channels.mime import _LINE_BREAK, _lines
from services.notifier.channels.signing import HmacSha256
from services.notifier.channels.smtpsend import as_data
from services.notifier.channels.webhook import WebhookChannel, WebhookSettings
from services.notifier.channels.wecom import WeComChannel, WeComSettings
from services.notifier.messages import _render, build_message, render_for
from services.notifier.render import TemplateSet
from tests.providers import sample_message
from tests.unit.test_notifier_deliver import notice

TEMPLATES = Path(__file__).resolve().parents[3] / "deploy" / "config" / "example" / "templates"
LINES = st.lists(st.sampled_from(["a", "中", ".", " ", "\r", "\n", "\r\n", "\u2028"])).map("".join)


@given(LINES.map(lambda t: t.encode("utf-8")))
def test_data_as_aiosmtplib_would_send_it(raw: bytes) -> None:
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"
    assert as_data(raw) == expected


@given(LINES)
def test_lines_split_where_the_regular_expression_splits(text: str) -> None:
    assert _lines(text) == _LINE_BREAK.split(text)


async def test_lines_starting_with_a_dot_arrive_whole(fake_smtp: Any) -> None:
    """``fake_smtp``: a FakeSmtpServer (a name mypy cannot take as a type)."""
    text = ".hidden\n..two\nlone\rcr\r\n.\nend"
    channel = EmailChannel(
        EmailSettings(
            host=fake_smtp.host, port=fake_smtp.port, from_addr="duban@example.com", security="none"
        )
    )
    await channel.send(sample_message(text=text, html=None))
    await channel.send(sample_message(text="plain", html=".<p>x</p>"))
    await channel.aclose()
    first, second = (mail.message for mail in fake_smtp.messages)
    expected = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n") + "\r\n"
    assert first.get_content() == expected
    html = second.get_body(("html",))
    assert html is not None and html.get_content() == ".<p>x</p>\r\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"errcode": 0, "errmsg": "ok"}', {"errcode": 0, "errmsg": "ok"}),
        (b'{"n": NaN}', "nan"),  # orjson refuses it; the standard library reads it
        ('{"msg": "成功"}'.encode("utf-16"), {"msg": "成功"}),
        (b'{"id": 123456789012345678901234567890}', {"id": 123456789012345678901234567890}),
        (b"[1, 2]", None),
        (b"<html>busy</html>", None),
        (b"", None),
    ],
)
def test_json_answers_read_as_before(content: bytes, expected: object) -> None:
    data = json_object(HttpAnswer(200, content, {}))
    if expected == "nan":
        assert data is not None and data["n"] != data["n"]
    else:
        assert data == expected


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(TEMPLATES)


def escalation(mobile: str | None, **facts: object) -> NoticeRequested:
    base = notice("wecom")
    recipient = base.recipient.model_copy(update={"mobile": mobile})
    return base.model_copy(
        update={
            "kind": "escalation",
            "action": "letter",
            "recipient": recipient,
            "facts": base.facts | facts,
        }
    )


@pytest.mark.parametrize(
    ("n", "text_only"),
    [
        (escalation("13900000001"), True),  # @ by mobile: WeCom's markdown cannot
        (escalation(None), False),  # nobody to @: markdown
        (
            notice("wecom").model_copy(
                update={
                    "recipient": notice("wecom").recipient.model_copy(update={"role": "group"}),
                    "facts": notice("wecom").facts
                    | {"mentions": [{"name": "甲", "wecom_userid": "jia"}]},
                }
            ),
            False,  # @ by userid: markdown can
        ),
    ],
)
def test_wecom_gets_no_markdown_it_would_not_send(
    templates: TemplateSet, n: NoticeRequested, text_only: bool
) -> None:
    wecom = WeComChannel(WeComSettings(webhook_url="https://qyapi.example/send?key=k"))
    rendered = render_for(templates, n, wecom, None)
    assert (rendered.markdown == "") is text_only
    full = _render(templates, n, None, ("subject", "markdown", "text"))
    body = wecom.build_body(build_message(n, wecom, rendered, "k", {}))
    assert body == wecom.build_body(build_message(n, wecom, full, "k", {}))
    assert body["msgtype"] == ("text" if text_only else "markdown")


def test_the_webhook_renders_nothing_it_posts_the_notice(templates: TemplateSet) -> None:
    n = notice("webhook")
    hook = WebhookChannel(WebhookSettings(url="https://receiver.example/hook", secret="s3cret"))
    rendered = render_for(templates, n, hook, "https://ack.example/a")
    assert (rendered.subject, rendered.text, rendered.html, rendered.markdown) == ("",) * 4
    body, _ = hook.build_request(build_message(n, hook, rendered, "k", {}))
    assert json.loads(body) == n.model_dump(mode="json")


@given(st.binary(max_size=200), st.binary(max_size=3000))
def test_a_prepared_key_signs_as_hmac_does(key: bytes, message: bytes) -> None:
    assert HmacSha256(key).digest(message) == hmac.digest(key, message, hashlib.sha256)


def test_feishu_signs_each_second_afresh() -> None:
    now = [1_700_000_000.2]
    bot = FeishuChannel(
        FeishuSettings(webhook_url="https://open.feishu.example/hook/x", secret="SECx"),
        clock=lambda: now[0],
    )
    signs = []
    for step in (0.0, 0.5, 0.4, 1.0, 0.0):
        now[0] += step
        body = bot.build_body(sample_message())
        assert body["sign"] == feishu_sign("SECx", int(now[0]))
        signs.append(body["sign"])
    assert signs[0] == signs[1] != signs[2] != signs[3] == signs[4]
