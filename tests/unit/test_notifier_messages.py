"""Which renderings a channel gets: each family only what it sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.notice import NoticeRequested
from services.notifier.channels.base import TEXT_FOR_MENTIONS
from services.notifier.messages import build_message, render_for
from services.notifier.render import Rendered, TemplateSet
from tests.unit.test_notifier_deliver import ScriptedChannel, notice

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def rendered(templates: TemplateSet, n: NoticeRequested, family: str) -> Rendered:
    return render_for(templates, n, ScriptedChannel("ch", family), None)


class WeComLike(ScriptedChannel):
    text_for_mentions = True


def test_chat_gets_subject_and_markdown_only(templates: TemplateSet) -> None:
    r = rendered(templates, notice("wecom", kind="reminder"), "chat")
    assert r.subject and r.markdown and r.text == "" and r.html == ""


def test_a_robot_mentioning_in_plain_text_also_gets_plain_text(templates: TemplateSet) -> None:
    n = NoticeRequested.model_validate(
        notice("wecom").model_dump() | {"kind": "escalation", "action": "letter"}
    )
    wecom = WeComLike("wecom")
    r = render_for(templates, n, wecom, None)
    assert r.markdown and r.text
    assert build_message(n, wecom, r, "k", {}).at_mobiles == ("13900000001",)
    dingtalk = ScriptedChannel("dingtalk")  # mentions in markdown: no plain text needed
    r = render_for(templates, n, dingtalk, None)
    assert r.markdown and r.text == ""
    assert build_message(n, dingtalk, r, "k", {}).at_mobiles == ("13900000001",)


def test_only_wecom_needs_plain_text_for_mentions() -> None:
    from services.notifier.channels.dingtalk import DingTalkChannel
    from services.notifier.channels.feishu import FeishuChannel
    from services.notifier.channels.wecom import WeComChannel

    assert [
        getattr(c, TEXT_FOR_MENTIONS, False) for c in (WeComChannel, DingTalkChannel, FeishuChannel)
    ] == [True, False, False]


def test_email_gets_subject_text_and_html(templates: TemplateSet) -> None:
    r = rendered(templates, notice("email"), "email")
    assert r.subject and r.text and r.html and r.markdown == ""


def test_an_empty_markdown_falls_back_to_text(tmp_path: Path, templates: TemplateSet) -> None:
    for path in (EXAMPLE / "templates").iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "reminder.md.j2").write_text("{# nothing for chat #}\n", encoding="utf-8")
    r = rendered(TemplateSet.load(tmp_path), notice("wecom"), "chat")
    assert r.markdown == "" and r.text
