"""The HTTP adapters' transport (one aiohttp session per channel): kept-alive and limited
connections, closed by ``aclose()``; proxies from the environment; certificates checked.
The fakes are real servers on 127.0.0.1, seen through a relay that counts connections or
a proxy that records what it was asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import uvloop

from deploy.local.standins.tcp import ConnectionRelay, RecordingProxy
from services.notifier.channels._http import CONNECTIONS_PER_HOST
from services.notifier.channels.base import never_reached_provider
from services.notifier.channels.wecom import WeComChannel, WeComSettings
from tests.providers import CertFiles, FakeWeCom, sample_message
from tests.unit.channels._support import send_expecting_error


def channel(url: str) -> WeComChannel:
    return WeComChannel(WeComSettings(webhook_url=url, timeout_s=5.0))


@pytest_asyncio.fixture
async def relay(fake_wecom: FakeWeCom) -> AsyncIterator[ConnectionRelay]:
    """Connections to the fake WeCom robot, counted."""
    async with ConnectionRelay(fake_wecom.port) as counting:
        yield counting


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[RecordingProxy]:
    async with RecordingProxy() as recording:
        yield recording


@pytest_asyncio.fixture
async def https_wecom(smtp_cert: CertFiles) -> AsyncIterator[FakeWeCom]:
    """A WeCom robot on HTTPS whose (self-signed) certificate no trust store knows."""
    async with FakeWeCom(tls=smtp_cert) as fake:
        yield fake


async def test_consecutive_sends_share_one_connection(
    fake_wecom: FakeWeCom, relay: ConnectionRelay
) -> None:
    ch = channel(relay.via(fake_wecom.webhook_url))
    await ch.send(sample_message())
    await ch.send(sample_message())
    await ch.aclose()
    assert len(fake_wecom.accepted) == 2 and relay.opened == 1


async def test_aclose_closes_the_connections(fake_wecom: FakeWeCom, relay: ConnectionRelay) -> None:
    ch = channel(relay.via(fake_wecom.webhook_url))
    await ch.send(sample_message())
    assert relay.ended == 0  # kept alive while the channel is open
    await ch.aclose()
    await relay.wait_ended(1)
    with pytest.raises(RuntimeError, match="closed"):
        await ch.send(sample_message())
    assert relay.opened == 1


async def test_concurrent_sends_open_at_most_the_limit_per_host(
    fake_wecom: FakeWeCom, relay: ConnectionRelay
) -> None:
    ch = channel(relay.via(fake_wecom.webhook_url))
    sends = CONNECTIONS_PER_HOST + 8
    await asyncio.gather(*(ch.send(sample_message()) for _ in range(sends)))
    await ch.aclose()
    assert len(fake_wecom.accepted) == sends and 1 <= relay.opened <= CONNECTIONS_PER_HOST


def test_the_session_opens_in_the_loop_that_sends() -> None:
    """Built outside any loop (nothing opened then), used on uvloop like the services."""
    ch = channel("http://127.0.0.1:1/unused")

    async def send_once() -> int:
        async with FakeWeCom() as fake:
            ch.settings = WeComSettings(webhook_url=fake.webhook_url)
            await ch.send(sample_message())
            await ch.aclose()
            return len(fake.accepted)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(send_once()) == 1


async def test_https_goes_through_the_https_proxy_and_checks_the_certificate(
    https_wecom: FakeWeCom, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    err = await send_expecting_error(channel(https_wecom.webhook_url))
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{https_wecom.port} HTTP/1.1"]
    assert err.reason == "bad endpoint configuration (ClientConnectorCertificateError)"
    assert not err.retryable and never_reached_provider(err) and https_wecom.requests == []


async def test_an_untrusted_certificate_is_refused_for_good(https_wecom: FakeWeCom) -> None:
    """A certificate error is an SSL error and a ValueError: permanent, as it always was."""
    err = await send_expecting_error(channel(https_wecom.webhook_url))
    assert err.reason == "bad endpoint configuration (ClientConnectorCertificateError)"
    assert not err.retryable and never_reached_provider(err) and https_wecom.requests == []


async def test_http_goes_through_the_http_proxy(
    fake_wecom: FakeWeCom, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    ch = channel(fake_wecom.webhook_url)
    await ch.send(sample_message())
    await ch.aclose()
    assert proxy.request_lines == [f"POST {fake_wecom.webhook_url} HTTP/1.1"]
    assert len(fake_wecom.accepted) == 1 and fake_wecom.rejections == []


async def test_no_proxy_names_hosts_reached_directly(
    fake_wecom: FakeWeCom, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    ch = channel(fake_wecom.webhook_url)
    await ch.send(sample_message())
    await ch.aclose()
    assert proxy.request_lines == [] and len(fake_wecom.accepted) == 1


async def test_an_unreachable_proxy_means_nothing_was_sent(
    fake_wecom: FakeWeCom, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    err = await send_expecting_error(channel(fake_wecom.webhook_url))
    assert err.retryable and "connection failed" in err.reason
    assert never_reached_provider(err) and fake_wecom.requests == []
