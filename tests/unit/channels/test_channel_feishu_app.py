"""Feishu app messages against the Feishu app stand-in (tokens in memory)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.notifier.channels.apptoken import MemoryTokenStore
from services.notifier.channels.feishu_app import (
    FeishuAppChannel,
    FeishuAppSettings,
    request_uuid,
)
from tests.providers import FakeFeishuApp
from tests.unit.channels._appsupport import ACK_URL, Clock, app_message
from tests.unit.channels._support import expect_error

LONG_KEY = "hazard:HZ-2026-0042:verification:d1:3:emergency-duty-officer:feishu_app"


def channel(
    fake: FakeFeishuApp,
    *,
    tokens: MemoryTokenStore | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> FeishuAppChannel:
    values: dict[str, Any] = {
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "api_base": fake.base_url,
        "timeout_s": 5.0,
    }
    return FeishuAppChannel(
        FeishuAppSettings(**{**values, **settings}),
        tokens=tokens,
        **({"clock": clock} if clock else {}),
    )


async def test_an_interactive_card_goes_to_the_open_id_with_the_ack_button(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    ch = channel(fake_feishu_app)
    result = await ch.send(app_message())
    await ch.aclose()
    [token_request] = fake_feishu_app.token_requests
    assert token_request.method == "POST"
    assert json.loads(token_request.body) == {
        "app_id": "cli_test_app",
        "app_secret": "feishu-app-test-secret",
    }
    [send] = [r for r in fake_feishu_app.requests if r.path == "/open-apis/im/v1/messages"]
    assert send.query == {"receive_id_type": "open_id"}
    assert send.headers["Authorization"] == f"Bearer {next(iter(fake_feishu_app.tokens))}"
    [body] = fake_feishu_app.accepted
    assert body["receive_id"] == "ou_7d8a6e6df7621556ce0d21922b676706"
    assert body["msg_type"] == "interactive" and isinstance(body["content"], str)
    assert body["uuid"] == app_message().delivery_key
    card = json.loads(body["content"])
    assert card["header"]["title"]["content"] == app_message().subject
    assert card["elements"][0] == {"tag": "markdown", "content": app_message().markdown}
    [button] = card["elements"][1]["actions"]
    assert (button["text"]["content"], button["url"]) == ("查看并确认", ACK_URL)
    assert (
        result.provider_message_id == "om_00000001" and result.provider_answer == "code=0 success"
    )


async def test_without_an_ack_page_the_card_has_no_button(fake_feishu_app: FakeFeishuApp) -> None:
    ch = channel(fake_feishu_app)
    await ch.send(app_message(ack_url=None))
    await ch.aclose()
    card = fake_feishu_app.delivered[0]["card"]
    assert [e["tag"] for e in card["elements"]] == ["markdown"]


def test_a_long_delivery_key_becomes_a_stable_uuid_feishu_accepts() -> None:
    assert request_uuid("N1:0:P1:feishu_app") == "N1:0:P1:feishu_app"
    hashed = request_uuid(LONG_KEY)
    assert len(LONG_KEY) > 50 and len(hashed) == 50 and hashed == request_uuid(LONG_KEY)
    assert request_uuid(LONG_KEY + "x") != hashed and request_uuid("通知") != "通知"


async def test_a_resend_with_the_same_delivery_key_reaches_the_person_once(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    ch = channel(fake_feishu_app)
    first = await ch.send(app_message(delivery_key=LONG_KEY))
    again = await ch.send(app_message(delivery_key=LONG_KEY))
    other = await ch.send(app_message(delivery_key=LONG_KEY + ":2"))
    await ch.aclose()
    assert first.provider_message_id == again.provider_message_id != other.provider_message_id
    assert len(fake_feishu_app.accepted) == 3 and len(fake_feishu_app.delivered) == 2
    assert fake_feishu_app.rejections == []


async def test_two_channels_sharing_the_store_fetch_one_token(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    store = MemoryTokenStore()
    one, two = channel(fake_feishu_app, tokens=store), channel(fake_feishu_app, tokens=store)
    await asyncio.gather(
        one.send(app_message(delivery_key="k1")), two.send(app_message(delivery_key="k2"))
    )
    await one.aclose()
    await two.aclose()
    assert len(fake_feishu_app.token_requests) == 1 and len(fake_feishu_app.delivered) == 2


async def test_an_invalid_token_is_replaced(fake_feishu_app: FakeFeishuApp) -> None:
    ch = channel(fake_feishu_app)
    await ch.send(app_message(delivery_key="k1"))
    fake_feishu_app.expire_tokens()
    await ch.send(app_message(delivery_key="k2"))
    await ch.aclose()
    assert fake_feishu_app.rejections == ["token expired"]
    assert len(fake_feishu_app.token_requests) == 2 and len(fake_feishu_app.delivered) == 2


async def test_a_new_token_comes_when_less_than_half_an_hour_is_left(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    clock = Clock()
    fake_feishu_app.clock = clock
    ch = channel(fake_feishu_app, clock=clock)
    await ch.send(app_message(delivery_key="k1"))
    clock.advance(6901)
    await ch.send(app_message(delivery_key="k2"))
    await ch.aclose()
    assert len(fake_feishu_app.token_requests) == 2 and len(fake_feishu_app.tokens) == 2
    [_, second] = [r for r in fake_feishu_app.requests if r.path.endswith("/messages")]
    assert second.headers["Authorization"] == f"Bearer {list(fake_feishu_app.tokens)[1]}"


async def test_a_person_outside_the_apps_availability_is_permanent(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    fake_feishu_app.users = {"ou_someone_else"}
    err = await expect_error(channel(fake_feishu_app), app_message())
    assert not err.retryable and err.provider_code == "230013"


async def test_the_frequency_limit_waits_as_long_as_feishu_says(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    fake_feishu_app.fail_next(code=99991400, reset=7)
    err = await expect_error(channel(fake_feishu_app), app_message())
    assert err.retryable and err.provider_code == "99991400" and err.retry_after_s == 7.0


@pytest.mark.parametrize("code", [230020, 11232])
async def test_message_frequency_codes_are_retryable(
    fake_feishu_app: FakeFeishuApp, code: int
) -> None:
    fake_feishu_app.fail_next(code=code)
    err = await expect_error(channel(fake_feishu_app), app_message())
    assert err.retryable and err.provider_code == str(code) and err.retry_after_s == 1.0


@pytest.mark.parametrize("code", [230002, 230006, 230025, 230028])
async def test_other_codes_are_permanent(fake_feishu_app: FakeFeishuApp, code: int) -> None:
    fake_feishu_app.fail_next(code=code)
    err = await expect_error(channel(fake_feishu_app), app_message())
    assert not err.retryable and err.provider_code == str(code)


async def test_server_errors_are_retryable(fake_feishu_app: FakeFeishuApp) -> None:
    fake_feishu_app.fail_next(status=503)
    err = await expect_error(channel(fake_feishu_app), app_message())
    assert err.retryable and err.provider_code == "HTTP 503"


async def test_a_wrong_secret_is_permanent_and_never_shown(fake_feishu_app: FakeFeishuApp) -> None:
    err = await expect_error(
        channel(fake_feishu_app, app_secret="not-our-secret-77"), app_message()
    )
    assert not err.retryable and err.provider_code == "10014"
    assert "not-our-secret-77" not in str(err) and fake_feishu_app.accepted == []


async def test_a_person_without_an_open_id_fails_before_any_request(
    fake_feishu_app: FakeFeishuApp,
) -> None:
    err = await expect_error(channel(fake_feishu_app), app_message(to_feishu_open_id=None))
    assert not err.retryable and "feishu_open_id" in err.reason
    assert fake_feishu_app.requests == []
