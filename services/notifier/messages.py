"""From a notice and its rendering to the message one channel sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from contracts.notice import NoticeRequested
from services.notifier.channels import Channel, DeliveryError, OutboundMessage
from services.notifier.channels.base import SENDS_TEXT, TEXT_FOR_MENTIONS
from services.notifier.channels.mentions import Mention, mentions_from_facts
from services.notifier.render import Rendered, TemplateSet
from services.notifier.templating.catalog import GROUP_ROLE

# What each channel family sends from a rendering; rendering only that is cheaper.
# Chat robots send markdown; plain text only when the markdown came out empty, or when
# the message @-mentions someone on a robot whose markdown cannot (TEXT_FOR_MENTIONS).
# The webhook posts the notice itself (build_message's payload): nothing is rendered.
FAMILIES_OF: dict[str, tuple[str, ...]] = {
    "email": ("subject", "text", "html"),
    "chat": ("subject", "markdown"),
    "sms": ("sms",),
    "webhook": (),
}


class _Mentioned(NamedTuple):
    """Whom a message @-mentions, before it is built (mentions.Mentioning)."""

    mentions: tuple[Mention, ...]
    at_mobiles: tuple[str, ...]


# channel name → "kind.action" / "kind" / "default" → (provider template id, parameter names)
SmsTemplates = Mapping[str, Mapping[str, tuple[str, tuple[str, ...]]]]


def render_for(
    templates: TemplateSet, notice: NoticeRequested, channel: Channel, ack_url: str | None
) -> Rendered:
    """The renderings of ``notice`` that ``channel`` sends, worded for its recipient's side."""
    families = FAMILIES_OF[channel.family]
    if not families:
        return Rendered(subject="", text="", html="", markdown="", sms_params={})
    at_mobiles, mentions = _mentions(notice, channel), _group_mentions(notice, channel)
    if (at_mobiles or mentions) and getattr(channel, TEXT_FOR_MENTIONS, False):
        sends_text = getattr(channel, SENDS_TEXT, None)
        if sends_text is not None and sends_text(_Mentioned(mentions, at_mobiles)):
            families = tuple(f for f in families if f != "markdown")  # it would go unused
        families += ("text",)
    if getattr(channel, "wants_text", False) and "text" not in families:
        families += ("text",)  # work-chat app cards summarise the plain text
    rendered = _render(templates, notice, ack_url, families)
    if "markdown" in families and "text" not in families and not rendered.markdown.strip():
        families += ("text",)  # the robots fall back to plain text
        rendered = _render(templates, notice, ack_url, families)
    return rendered


def _render(
    templates: TemplateSet, notice: NoticeRequested, ack_url: str | None, families: tuple[str, ...]
) -> Rendered:
    """The recipient's role picks its side's wording; letters are dated the day they are due."""
    return templates.render(
        notice.kind,
        notice.action,
        notice.facts,
        ack_url,
        families=families,
        role=notice.recipient.role,
        issued_at=notice.due_at,
    )


def build_message(
    notice: NoticeRequested,
    channel: Channel,
    rendered: Rendered,
    key: str,
    sms_templates: SmsTemplates,
    ack_url: str | None = None,
) -> OutboundMessage:
    """The message for one channel; SMS gets its provider template and parameters; the
    work-chat apps the person's ids and the acknowledgement link (for a card's button)."""
    person = notice.recipient
    template, params = None, dict(rendered.sms_params)
    if channel.family == "sms":
        template, names = sms_template_for(notice, channel.name, sms_templates)
        params = {name: rendered.sms_params.get(name, "") for name in names}
    return OutboundMessage(
        delivery_key=key,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        markdown=rendered.markdown,
        sms_params=params,
        sms_template=template,
        to_email=person.email,
        to_mobile=person.mobile,
        at_mobiles=_mentions(notice, channel),
        mentions=_group_mentions(notice, channel),
        payload=notice.model_dump(mode="json") if channel.family == "webhook" else None,
        to_wecom_userid=person.wecom_userid,
        to_dingtalk_userid=person.dingtalk_userid,
        to_feishu_open_id=person.feishu_open_id,
        ack_url=ack_url,
    )


def sms_template_for(
    notice: NoticeRequested, channel: str, sms_templates: SmsTemplates
) -> tuple[str, tuple[str, ...]]:
    """The provider template for this notice's kind (and action); permanent error if none."""
    table = sms_templates.get(channel, {})
    for name in (f"{notice.kind}.{notice.action}", notice.kind, "default"):
        if name in table:
            return table[name]
    raise DeliveryError(
        f"no SMS template configured for '{notice.kind}' on channel '{channel}'",
        retryable=False,
        channel=channel,
    )


def _mentions(notice: NoticeRequested, channel: Channel) -> tuple[str, ...]:
    """@-mention the recipient in group chats for escalations only; other kinds read
    better as markdown (WeCom cannot @ by mobile in markdown)."""
    mobile = notice.recipient.mobile
    if channel.family != "chat" or notice.kind != "escalation" or not mobile:
        return ()
    return (mobile,)


def _group_mentions(notice: NoticeRequested, channel: Channel) -> tuple[Mention, ...]:
    """A group robot's post @-mentions everyone the notice goes to (``facts["mentions"]``)."""
    if channel.family != "chat" or notice.recipient.role != GROUP_ROLE:
        return ()
    return mentions_from_facts(notice.facts.get("mentions"))
