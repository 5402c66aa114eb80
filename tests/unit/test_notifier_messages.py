"""Which renderings a channel gets: each family only what it sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.notice import NoticeRequested
from services.notifier.messages import build_message, render_for
from services.notifier.render import Rendered, TemplateSet
from tests.unit.test_notifier_deliver import ScriptedChannel, notice

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "example"


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(EXAMPLE / "templates")


def rendered(templates: TemplateSet, n: NoticeRequested, family: str) -> Rendered:
    return render_for(templates, n, ScriptedChannel("ch", family), None)


def test_chat_gets_subject_and_markdown_only(templates: TemplateSet) -> None:
    r = rendered(templates, notice("wecom", kind="reminder"), "chat")
    assert r.subject and r.markdown and r.text == "" and r.html == ""


def test_chat_mentioning_someone_also_gets_plain_text(templates: TemplateSet) -> None:
    n = NoticeRequested.model_validate(
        notice("wecom").model_dump() | {"kind": "escalation", "action": "letter"}
    )
    r = rendered(templates, n, "chat")
    assert r.markdown and r.text
    message = build_message(n, ScriptedChannel("wecom"), r, "k", {})
    assert message.at_mobiles == ("13900000001",)


def test_email_gets_subject_text_and_html(templates: TemplateSet) -> None:
    r = rendered(templates, notice("email"), "email")
    assert r.subject and r.text and r.html and r.markdown == ""


def test_an_empty_markdown_falls_back_to_text(tmp_path: Path, templates: TemplateSet) -> None:
    for path in (EXAMPLE / "templates").iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "reminder.md.j2").write_text("{# nothing for chat #}\n", encoding="utf-8")
    r = rendered(TemplateSet.load(tmp_path), notice("wecom"), "chat")
    assert r.markdown == "" and r.text
