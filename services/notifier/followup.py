"""The notifier's part in SMS after the send: the reply code an SMS carries, waiting for the
delivery report, and sending the notice on when the report says it failed or none came.

* Before an SMS is sent, a template whose ``params`` list ``code`` gets the notice's reply
  code for that person and mobile (services.sms.replycodes): one per notice, the same on
  every repeat, so a reply "4271" acknowledges it (services.ack.sms).
* When Aliyun or Tencent accepted an SMS, the delivery waits for its report
  (services.sms.awaiting). The ack service settles it with the first report; a failure
  report makes it due at once, and no report within ``report_timeout_s`` makes it due then.
  The generic gateway pushes no reports: its SMS waits only when ``gateway_timeout``.
* :func:`fall_back_once` takes the due deliveries: it publishes ``notice.failed`` with
  ``after_acceptance`` (its reason: the report's code, or the silence) and delivers the
  notice on the person's next channel — skipping the other SMS channels, which reach the
  same handset — or dead-letters it when none is left. The delivery ledger keeps a
  fallback taken twice (a replica died mid-way) from sending anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from redis.asyncio import Redis

from contracts.notice import ChannelPlan, NoticeRequested
from services.clock import Clock
from services.metrics import FollowUpMetrics, Metrics
from services.notifier.channels import Channel, DeliveryError
from services.notifier.ledger import Sent
from services.notifier.messages import SmsTemplates, sms_template_for
from services.notifier.render import Rendered
from services.settings import Settings
from services.sms.awaiting import Awaiting, AwaitingStore, RedisAwaiting
from services.sms.numbers import national_mobile
from services.sms.replycodes import REPLY_CODE_PARAM, CodeOwner, RedisReplyCodes, ReplyCodes

log = logging.getLogger("duban.notifier")
FALLBACK_BATCH = 100
FALLBACK_LEASE_S = 300.0
REPORT_TIMEOUT_S = 600.0
CODE_TTL_S = 30 * 86400


class FallbackOutcomes(Protocol):
    """Where a fallback's receipt and dead letter go (KafkaOutcomes)."""

    async def failed_after_acceptance(
        self, notice: NoticeRequested, channel: str, attempts: int, reason: str, final: bool
    ) -> None:
        """Publish notice.failed with after_acceptance."""

    async def dead_letter(self, notice: NoticeRequested, reason: str) -> None:
        """No channel is left for the notice."""


@dataclass
class FollowUp:
    """Reply codes and delivery reports for the deliverer; the fallback for the loop."""

    awaiting: AwaitingStore
    codes: ReplyCodes
    clock: Clock
    report_timeout_s: float = REPORT_TIMEOUT_S
    gateway_timeout: bool = False  # the gateway's SMS fall back after the timeout too
    code_ttl_s: int = CODE_TTL_S
    metrics: Metrics | None = None

    def __post_init__(self) -> None:
        self.counts = FollowUpMetrics(self.metrics)

    async def reply_params(self, notice: NoticeRequested, names: Sequence[str]) -> dict[str, str]:
        """``{"code": ...}`` when the SMS template asks for the reply code, else nothing."""
        mobile = national_mobile(notice.recipient.mobile)
        if REPLY_CODE_PARAM not in names or mobile is None:
            return {}  # without a mainland mobile the adapter refuses the SMS anyway
        owner = CodeOwner(notice.notice_id, notice.recipient.person_id)
        code = await self.codes.issue(mobile, owner, self.clock.now(), self.code_ttl_s)
        return {REPLY_CODE_PARAM: code}

    async def with_reply_code(
        self,
        notice: NoticeRequested,
        channel: Channel,
        rendered: Rendered,
        sms_templates: SmsTemplates,
    ) -> Rendered:
        """``rendered`` with the reply code among its SMS parameters when the channel's
        template for the notice asks for one."""
        if channel.family != "sms":
            return rendered
        try:
            _, names = sms_template_for(notice, channel.name, sms_templates)
        except DeliveryError:
            return rendered  # building the message fails the channel with this error
        extra = await self.reply_params(notice, names)
        if not extra:
            return rendered
        return replace(rendered, sms_params={**rendered.sms_params, **extra})

    def waits_for(self, channel: Channel) -> bool:
        """Whether an SMS accepted on ``channel`` waits for a delivery report."""
        if channel.family != "sms":
            return False
        return report_provider(channel) is not None or self.gateway_timeout

    async def accepted(self, notice: NoticeRequested, channel: Channel, sent: Sent) -> None:
        """The provider accepted the SMS: wait for its report (again: a no-op)."""
        if not self.waits_for(channel):
            return
        at = sent.at or self.clock.now()
        item = Awaiting(
            delivery_key=notice.delivery_key(channel.name),
            notice=notice,
            channel=channel.name,
            attempts=sent.attempts,
            sent_at=at,
            provider=report_provider(channel),
            provider_id=sent.provider_message_id,
            mobile=national_mobile(notice.recipient.mobile),
        )
        await self.awaiting.register(item, at + timedelta(seconds=self.report_timeout_s))

    async def accepted_again(
        self, notice: NoticeRequested, channel: Channel | None, sent: Sent
    ) -> None:
        """A delivery found sent (its receipt published again after a crash): wait for its
        report if it may still come; an old replay (a dead letter re-sent) starts nothing."""
        if channel is None or sent.at is None:
            return
        if self.clock.now() - sent.at < timedelta(seconds=self.report_timeout_s):
            await self.accepted(notice, channel, sent)

    def reason(self, item: Awaiting) -> str:
        """Why the delivery counts as failed after the provider accepted it."""
        if item.report == "failed":
            text = f": {item.report_text}" if item.report_text else ""
            return f"delivery report {item.report_code or 'FAIL'}{text}"
        return f"no delivery report within {self.report_timeout_s / 60:g} minutes"


def report_provider(channel: Channel) -> str | None:
    """Where the channel's delivery reports come from ("aliyun", "tencent"); None: none come."""
    provider = getattr(channel, "report_provider", None)
    return provider if isinstance(provider, str) else None


def next_channels(
    notice: NoticeRequested, failed: str, channels: Mapping[str, Channel]
) -> tuple[ChannelPlan, ...]:
    """The plans after ``failed``, without SMS channels: they reach the same handset."""
    names = [p.channel for p in notice.channels]
    after = notice.channels[names.index(failed) + 1 :] if failed in names else ()
    return tuple(p for p in after if getattr(channels.get(p.channel), "family", None) != "sms")


async def fall_back_once(
    followup: FollowUp,
    deliver: Callable[[NoticeRequested], Awaitable[object]],
    outcomes: FallbackOutcomes,
    channels: Mapping[str, Channel],
) -> int:
    """Send on the deliveries whose report failed or did not come; how many were due."""
    due = await followup.awaiting.due(followup.clock.now(), FALLBACK_BATCH, FALLBACK_LEASE_S)
    for key in due:
        try:
            item = await followup.awaiting.begin_fallback(key)
        except ValueError as e:  # a damaged record: nothing to send it on with
            log.error("delivery awaiting a report is unreadable, dropped: %s", type(e).__name__)
            await followup.awaiting.fallback_done(key)
            continue
        if item is not None:
            await _send_on(followup, item, deliver, outcomes, channels)
            await followup.awaiting.fallback_done(key)
    return len(due)


async def _send_on(
    followup: FollowUp,
    item: Awaiting,
    deliver: Callable[[NoticeRequested], Awaitable[object]],
    outcomes: FallbackOutcomes,
    channels: Mapping[str, Channel],
) -> None:
    reason = followup.reason(item)
    remaining = next_channels(item.notice, item.channel, channels)
    final = not any(p.channel in channels for p in remaining)
    followup.counts.fallbacks.labels(
        "report_failed" if item.report == "failed" else "no_report"
    ).inc()
    log.info("notice %s on %s: %s", item.notice.notice_id, item.channel, reason)
    await outcomes.failed_after_acceptance(item.notice, item.channel, item.attempts, reason, final)
    if remaining:
        await deliver(item.notice.model_copy(update={"channels": remaining}))
    else:
        await outcomes.dead_letter(item.notice, f"{item.channel}: {reason}; no channel left")


def sms_followup(
    settings: Settings, redis: Redis | None, clock: Clock, metrics: Metrics | None = None
) -> FollowUp | None:
    """The notifier's follow-up on Redis, as the settings say; None without Redis (in-memory
    backings: no reply codes, no waiting for reports)."""
    if redis is None:
        return None
    return FollowUp(
        awaiting=RedisAwaiting(redis),
        codes=RedisReplyCodes(redis),
        clock=clock,
        report_timeout_s=settings.sms_report_timeout_s,
        gateway_timeout=settings.sms_gateway_report_timeout,
        code_ttl_s=settings.sms_reply_code_days * 86400,
        metrics=metrics,
    )
