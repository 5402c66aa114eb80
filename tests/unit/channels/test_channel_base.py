from __future__ import annotations

import asyncio

import aiohttp
import pytest

from services.notifier.channels import KINDS, build_channel, settings_class
from services.notifier.channels.base import Channel, DeliveryError
from services.notifier.channels.dingtalk import DingTalkSettings
from services.notifier.channels.email import EmailSettings
from tests.providers import FakeWeCom, sample_message

SETTINGS: dict[str, dict[str, object]] = {
    "email": {"host": "127.0.0.1", "from_addr": "duban@example.com"},
    "wecom": {"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"},
    "dingtalk": {"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t"},
    "feishu": {"webhook_url": "https://open.feishu.cn/open-apis/bot/v2/hook/h"},
    "aliyun_sms": {"access_key_id": "id", "access_key_secret": "s", "sign_name": "督办"},
    "tencent_sms": {"secret_id": "id", "secret_key": "k", "sdk_app_id": "1", "sign_name": "督办"},
    "sms_gateway": {"url": "https://sms.example.com/send", "token": "t"},
    "webhook": {"url": "https://hooks.example.com/duban", "secret": "s"},
    "wecom_app": {"corp_id": "ww1", "agent_id": 1000002, "secret": "s"},
    "dingtalk_work": {"app_key": "k", "app_secret": "s", "agent_id": 1},
    "feishu_app": {"app_id": "cli_1", "app_secret": "s"},
}


@pytest.mark.parametrize("kind", KINDS)
async def test_build_channel_every_kind(kind: str) -> None:
    settings = settings_class(kind)(**SETTINGS[kind])
    channel = build_channel(kind, settings)
    try:
        assert isinstance(channel, Channel)
        assert channel.name == kind
        assert channel.family in {"email", "chat", "sms", "webhook"}
    finally:
        await channel.aclose()


def test_build_channel_rejects_wrong_settings_and_unknown_kind() -> None:
    with pytest.raises(TypeError, match="DingTalkSettings"):
        build_channel("dingtalk", EmailSettings(host="h", from_addr="a@b.c"))
    with pytest.raises(ValueError, match="unknown channel kind"):
        build_channel("pigeon", object())


def test_settings_repr_hides_secrets() -> None:
    s = DingTalkSettings(
        webhook_url="https://oapi.dingtalk.com/robot/send?access_token=TOPSECRET",
        secret="SECRETVALUE",
    )
    assert "TOPSECRET" not in repr(s) and "SECRETVALUE" not in repr(s)
    e = EmailSettings(host="h", from_addr="a@b.c", password="PASSWORD1")
    assert "PASSWORD1" not in repr(e)


def test_delivery_error_text() -> None:
    e = DeliveryError(
        "DingTalk errcode 130101: send too fast",
        retryable=True,
        provider_code="130101",
        retry_after_s=60,
        channel="dingtalk",
    )
    assert str(e) == (
        "[dingtalk] DingTalk errcode 130101: send too fast (code 130101) retryable retry after 60s"
    )
    assert e.reason.startswith("DingTalk") and e.retryable and e.provider_code == "130101"
    assert "retryable=True" in repr(e)


async def test_shared_client_is_not_closed_but_owned_one_is(fake_wecom: FakeWeCom) -> None:
    async with aiohttp.ClientSession() as client:
        shared = build_channel(
            "wecom", settings_class("wecom")(webhook_url=fake_wecom.webhook_url), client=client
        )
        await shared.send(sample_message())
        await shared.aclose()
        assert not client.closed
        await shared.send(sample_message())  # still usable
    owned = build_channel("wecom", settings_class("wecom")(webhook_url=fake_wecom.webhook_url))
    await owned.send(sample_message())
    await owned.aclose()
    with pytest.raises(RuntimeError):  # using a closed channel is a programming error
        await owned.send(sample_message())
    assert len(fake_wecom.accepted) == 3


def test_proxies_come_from_the_environment_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from yarl import URL

    from services.notifier.channels._http import HttpPoster

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "oa.town.example")
    poster = HttpPoster(channel="wecom", timeout_s=5)
    proxy = URL("http://proxy.internal:3128")
    assert poster._proxy_for("https", "qyapi.weixin.qq.com") == proxy
    assert poster._proxy_for("https", "oa.town.example") is None
    assert poster._proxy_for("http", "plain.example") is None  # no HTTP_PROXY set
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere:1")
    assert poster._proxy_for("https", "qyapi.weixin.qq.com") == proxy  # read once per host


async def test_a_proxied_request_goes_to_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.notifier.channels._http import HttpPoster

    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    poster = HttpPoster(channel="webhook", timeout_s=5)
    async with server:
        answer = await poster.post("http://oa.town.example/hook?x=1", content=b"{}", headers={})
        await poster.aclose()
    assert answer.status_code == 200 and answer.content == b"ok"
    assert seen[0].startswith(b"POST http://oa.town.example/hook?x=1 HTTP/1.1\r\n")
