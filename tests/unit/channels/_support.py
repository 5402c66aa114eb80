"""Helpers shared by the channel adapter tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from deploy.local.standins._base import FakeHttpProvider
from services.notifier.channels.base import Channel, DeliveryError, OutboundMessage
from tests.providers import FakeDingTalk, FakeFeishu, sample_message

ChannelT = TypeVar("ChannelT", bound=Channel)


def with_clock(cls: Callable[..., ChannelT], settings: object, clock: float | None) -> ChannelT:
    """``cls(settings)``, its clock stopped at ``clock`` when one is given."""
    if clock is None:
        return cls(settings)
    return cls(settings, clock=lambda: clock)


def robot_channel(
    cls: Callable[..., ChannelT],
    settings_cls: Callable[..., object],
    fake: FakeDingTalk | FakeFeishu,
    *,
    secret: str | None = None,
    timeout_s: float = 5.0,
    clock: float | None = None,
) -> ChannelT:
    """A signing robot's channel for ``fake``, with the fake's secret unless given one."""
    settings = settings_cls(
        webhook_url=fake.webhook_url,
        secret=fake.secret if secret is None else secret,
        timeout_s=timeout_s,
    )
    return with_clock(cls, settings, clock)


async def expect_error(ch: Channel, message: OutboundMessage) -> DeliveryError:
    """Send ``message``, which must fail with a DeliveryError; ``ch`` is closed after."""
    try:
        with pytest.raises(DeliveryError) as info:
            await ch.send(message)
    finally:
        await ch.aclose()
    return info.value


async def send_expecting_error(ch: Channel, **overrides: Any) -> DeliveryError:
    """:func:`expect_error` for ``sample_message(**overrides)``."""
    return await expect_error(ch, sample_message(**overrides))


async def send_with_failure(fake: FakeHttpProvider, ch: Channel, **failure: Any) -> DeliveryError:
    """The error for the sample message when ``fake`` answers ``fail_next(**failure)``."""
    fake.fail_next(**failure)
    return await send_expecting_error(ch)


async def send_past_timeout(fake: FakeHttpProvider, ch: Channel) -> DeliveryError:
    """The error for the sample message when ``fake`` holds it longer than ``ch`` waits."""
    fake.delay_next(seconds=30)
    return await send_expecting_error(ch)


async def until_connection_lost(protocol: Any, lost_already: bool, timeout_s: float = 5.0) -> None:
    """Wait until ``protocol`` (a client connection's asyncio protocol) is told its
    connection was lost, e.g. after the server hung up; no polling."""
    if lost_already:
        return
    lost = asyncio.Event()
    told = protocol.connection_lost

    def noting(exc: Exception | None) -> None:
        told(exc)
        lost.set()

    protocol.connection_lost = noting  # the transport calls the instance's attribute
    async with asyncio.timeout(timeout_s):
        await lost.wait()
