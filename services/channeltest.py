"""`duban notify test`: one test message through one configured channel, the answer printed.

The message is the example reminder rendered with the folder's own templates (and, for
SMS, the channel's own provider template), so a passing test also shows the templates,
the SMS template mapping and the provider account fit together. Its texts say it is a
test that needs no action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from services.masking import mask

if TYPE_CHECKING:
    from services.config.load import Config
    from services.notifier.channels import Channel, OutboundMessage

notify_app = typer.Typer(help="Try the delivery channels.", no_args_is_help=True)

TEST_FACTS = {
    "title": "督办渠道测试消息（无需处理）",
    "unit_name": "督办系统",
    "recipient_name": "测试收件人",
    "recipient_role": "committee_office",
    "occurrence": 0,
}
TEST_SUBJECT_PREFIX = "【测试，无需处理】"


class NotifyTestError(Exception):
    """The test message could not be sent; the message says why."""


@notify_app.command("test")
def test_command(
    ctx: typer.Context,
    channel: Annotated[str, typer.Option("--channel", help="Channel name in channels.yaml.")],
    config: Annotated[Path, typer.Option("--config", help="Config folder.")] = Path(
        "deploy/config/example"
    ),
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Email address, mobile, or the person's work-chat id (wecom_app: userid, "
            "dingtalk_work: userid, feishu_app: open_id); nothing for robots and webhooks.",
        ),
    ] = None,
) -> None:
    """Send one test message through a channel; print the provider's answer, exit 1 on failure."""
    from services.config.positions import ConfigError

    try:
        # ctx.obj: the environment `duban` read at start (channels.yaml's ${NAME}s).
        answer = asyncio.run(send_test(config, channel, to, ctx.obj))
    except (NotifyTestError, ConfigError) as e:
        typer.echo(f"failed: {mask(str(e))}", err=True)
        raise typer.Exit(1) from e
    typer.echo(mask(answer))


async def send_test(folder: Path, name: str, to: str | None, env: Mapping[str, str]) -> str:
    """Send the test message through channel `name`; the provider's answer as one line."""
    from services.config.load import load_config
    from services.notifier.channels import DeliveryError
    from services.notifier.render import TemplateError

    config = load_config(folder)
    channel = _channel(config, name, env)
    try:
        message = build_test_message(config, channel, to, datetime.now(UTC))
        result = await channel.send(message)
    except (DeliveryError, TemplateError) as e:
        raise NotifyTestError(str(e)) from e
    finally:
        await channel.aclose()
    kind = config.channels.channels[name].type
    answer = f"OK: {name} ({kind}) accepted the test message{_for(channel, to)}: "
    answer += result.provider_answer
    if result.provider_message_id:
        answer += f" (message id {result.provider_message_id})"
    return answer


def _channel(config: Config, name: str, env: Mapping[str, str]) -> Channel:
    from services.config.channels import unset_variables
    from services.notifier.channels import build_channel
    from services.notifier.setup import channel_settings

    entry = config.channels.channels.get(name)
    if entry is None:
        known = ", ".join(sorted(config.channels.channels))
        raise NotifyTestError(f"no channel named '{name}' in channels.yaml (there are: {known})")
    missing = unset_variables(entry, env)
    if missing:
        raise NotifyTestError(f"channel '{name}' is off: set {', '.join(sorted(set(missing)))}")
    try:
        return build_channel(entry.type, channel_settings(entry, env), name=name)
    except (TypeError, ValueError) as e:
        raise NotifyTestError(f"channel '{name}' is misconfigured: {e}") from e


def build_test_message(
    config: Config, channel: Channel, to: str | None, now: datetime
) -> OutboundMessage:
    """The test reminder for `channel`, addressed to `to`, built like any real message."""
    from contracts.notice import ChannelPlan, NoticeRequested, Recipient
    from services.notifier.messages import build_message, render_for
    from services.notifier.render import TemplateSet, sample_facts
    from services.notifier.setup import sms_templates

    notice = NoticeRequested(
        notice_id=f"duban-test-{now:%Y%m%d%H%M%S}",
        occurrence=0,
        kind="reminder",
        subject="duban-test",
        due_at=now,
        recipient=Recipient(
            person_id="duban-test", role="committee_office", **_address(channel, to)
        ),
        channels=(ChannelPlan(channel=channel.name),),
        facts={**sample_facts("reminder"), **TEST_FACTS},
    )
    templates = TemplateSet.load(config.folder / "templates", tz=config.policy.time_zone)
    rendered = render_for(templates, notice, channel, None)
    rendered = replace(rendered, subject=TEST_SUBJECT_PREFIX + rendered.subject)
    key = notice.delivery_key(channel.name)
    return build_message(notice, channel, rendered, key, sms_templates(config))


def _address(channel: Channel, to: str | None) -> dict[str, str]:
    """The test recipient's address; the channels that need one insist on it."""
    app_field = _app_field(channel)
    if app_field is not None:
        if not to or not to.strip():
            raise NotifyTestError(
                f"channel '{channel.name}' needs --to with the person's {app_field}"
            )
        return {app_field: to.strip()}
    if channel.family == "email":
        if not to or "@" not in to:
            raise NotifyTestError(f"channel '{channel.name}' needs --to with an email address")
        return {"email": to}
    if channel.family == "sms":
        if not to:
            raise NotifyTestError(f"channel '{channel.name}' needs --to with a mobile number")
        return {"mobile": to}
    return {}  # robots post to their group, webhooks to their receiver


def _app_field(channel: Channel) -> str | None:
    """The recipient field a work-chat app sends to (``wecom_userid`` ...), else None."""
    field: str | None = getattr(channel, "recipient_field", None)
    return field.removeprefix("to_") if field else None


def _for(channel: Channel, to: str | None) -> str:
    from services.notifier.channels import mask_email, mask_mobile

    if _app_field(channel) is not None and to:
        return f" for {to.strip()}"
    if channel.family == "email":
        return f" for {mask_email(to)}"
    if channel.family == "sms":
        return f" for {mask_mobile(to)}"
    return ""
