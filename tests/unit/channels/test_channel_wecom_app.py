"""WeCom app messages against the WeCom app stand-in (tokens in memory)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.masking import mask
from services.notifier.channels import build_channel
from services.notifier.channels.apptoken import MemoryTokenStore
from services.notifier.channels.base import DeliveryError
from services.notifier.channels.wecom_app import WeComAppChannel, WeComAppSettings
from tests.providers import FakeWeComApp
from tests.unit.channels._appsupport import ACK_URL, Clock, app_message
from tests.unit.channels._support import expect_error


def channel(
    fake: FakeWeComApp,
    *,
    tokens: MemoryTokenStore | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> WeComAppChannel:
    values: dict[str, Any] = {
        "corp_id": fake.corp_id,
        "agent_id": fake.agent_id,
        "secret": fake.secret,
        "api_base": fake.base_url,
        "timeout_s": 5.0,
    }
    built = WeComAppChannel(
        WeComAppSettings(**{**values, **settings}),
        tokens=tokens,
        **({"clock": clock} if clock else {}),
    )
    return built


async def test_a_card_goes_to_the_userid_with_a_button_to_the_ack_page(
    fake_wecom_app: FakeWeComApp,
) -> None:
    ch = channel(fake_wecom_app)
    result = await ch.send(app_message())
    await ch.aclose()
    [token_request] = fake_wecom_app.token_requests
    assert token_request.method == "GET"
    assert token_request.query == {"corpid": "ww-test-corp", "corpsecret": fake_wecom_app.secret}
    [body] = fake_wecom_app.accepted
    assert body["touser"] == "ZhangSan" and body["agentid"] == 1000002
    assert body["msgtype"] == "textcard" and body["enable_duplicate_check"] == 1
    card = body["textcard"]
    assert card["title"] == app_message().subject and card["url"] == ACK_URL
    assert card["btntxt"] == "查看确认" and "3号车间配电箱未上锁" in card["description"]
    assert fake_wecom_app.rejections == []
    assert (result.provider_message_id, result.provider_answer) == ("wecom-msg-1", "errcode=0 ok")


async def test_without_an_ack_page_it_is_markdown(fake_wecom_app: FakeWeComApp) -> None:
    ch = channel(fake_wecom_app)
    await ch.send(app_message(ack_url=None, markdown="**到期** " + "隐患" * 2000))
    await ch.aclose()
    [body] = fake_wecom_app.accepted
    content = body["markdown"]["content"]
    assert body["msgtype"] == "markdown" and content.startswith("**【隐患整改提醒】")
    assert len(content.encode()) <= 2048 and content.endswith("…")


async def test_two_channels_sharing_the_store_fetch_one_token(
    fake_wecom_app: FakeWeComApp,
) -> None:
    store = MemoryTokenStore()
    one, two = channel(fake_wecom_app, tokens=store), channel(fake_wecom_app, tokens=store)
    await asyncio.gather(
        one.send(app_message(to_wecom_userid="a")), two.send(app_message(to_wecom_userid="b"))
    )
    await one.send(app_message(to_wecom_userid="c"))
    await one.aclose()
    await two.aclose()
    assert len(fake_wecom_app.token_requests) == 1
    assert [b["touser"] for b in fake_wecom_app.delivered] in (["a", "b", "c"], ["b", "a", "c"])


async def test_an_expired_token_is_replaced_and_the_message_sent_once_more(
    fake_wecom_app: FakeWeComApp,
) -> None:
    ch = channel(fake_wecom_app)
    await ch.send(app_message(delivery_key="k1"))
    fake_wecom_app.expire_tokens()  # WeCom revoked it, or two hours passed
    result = await ch.send(app_message(delivery_key="k2", text="第二条"))
    await ch.aclose()
    assert fake_wecom_app.rejections == ["access_token expired"]
    assert len(fake_wecom_app.token_requests) == 2 and len(fake_wecom_app.delivered) == 2
    assert result.provider_answer == "errcode=0 ok"


async def test_the_token_is_fetched_again_before_it_expires(fake_wecom_app: FakeWeComApp) -> None:
    clock = Clock()
    fake_wecom_app.clock = clock
    ch = channel(fake_wecom_app, clock=clock)
    await ch.send(app_message())
    clock.advance(6901)  # 299 s left: WeCom answers the same token and the time left
    await ch.send(app_message(text="第二条"))
    await ch.send(app_message(text="第三条"))  # used until halfway through those 299 s
    await ch.aclose()
    assert len(fake_wecom_app.token_requests) == 2 and fake_wecom_app.rejections == []


async def test_a_refused_token_twice_in_a_row_is_retryable(fake_wecom_app: FakeWeComApp) -> None:
    ch = channel(fake_wecom_app)
    fake_wecom_app.fail_next(2, code=40014)
    err = await expect_error(ch, app_message())
    assert err.retryable and err.provider_code == "40014"
    assert "refused a newly fetched access token" in err.reason
    token = next(iter(fake_wecom_app.tokens))
    assert token not in mask(f"{err!r} {token}")


async def test_a_person_outside_the_apps_range_is_permanent(fake_wecom_app: FakeWeComApp) -> None:
    fake_wecom_app.users = {"ZhangSan"}
    err = await expect_error(channel(fake_wecom_app), app_message(to_wecom_userid="LiSi"))
    assert not err.retryable and err.provider_code == "81013"
    assert fake_wecom_app.rejections == ["no member the app can reach"]


@pytest.mark.parametrize("listed", ["invaliduser", "unlicenseduser"])
async def test_an_accepted_send_that_reached_nobody_is_permanent(
    fake_wecom_app: FakeWeComApp, listed: str
) -> None:
    fake_wecom_app.fail_next(code=0, **{listed: "zhangsan"})  # userids come back lower-cased
    err = await expect_error(channel(fake_wecom_app), app_message())
    assert not err.retryable and err.provider_code == listed


@pytest.mark.parametrize(("code", "wait"), [(45009, 60.0), (-1, None), (45033, 1.0)])
async def test_frequency_and_busy_codes_are_retryable(
    fake_wecom_app: FakeWeComApp, code: int, wait: float | None
) -> None:
    fake_wecom_app.fail_next(code=code)
    err = await expect_error(channel(fake_wecom_app), app_message())
    assert err.retryable and err.provider_code == str(code) and err.retry_after_s == wait


@pytest.mark.parametrize("code", [60111, 40003, 50002, 60020, 48002])
async def test_other_codes_are_permanent(fake_wecom_app: FakeWeComApp, code: int) -> None:
    fake_wecom_app.fail_next(code=code)
    err = await expect_error(channel(fake_wecom_app), app_message())
    assert not err.retryable and err.provider_code == str(code)


async def test_a_wrong_secret_is_permanent_and_never_shown(fake_wecom_app: FakeWeComApp) -> None:
    err = await expect_error(channel(fake_wecom_app, secret="wrong-app-secret-42"), app_message())
    assert not err.retryable and err.provider_code == "40001"
    assert "access token refused" in err.reason and "wrong-app-secret-42" not in str(err)
    assert fake_wecom_app.accepted == []


async def test_a_throttled_token_request_is_retryable_and_the_next_send_works(
    fake_wecom_app: FakeWeComApp,
) -> None:
    ch = channel(fake_wecom_app)
    fake_wecom_app.fail_token_next(code=45009)
    with pytest.raises(DeliveryError) as info:
        await ch.send(app_message())
    result = await ch.send(app_message())
    await ch.aclose()
    err = info.value
    assert err.retryable and err.provider_code == "45009" and err.retry_after_s == 60.0
    assert len(fake_wecom_app.token_requests) == 2 and result.provider_answer == "errcode=0 ok"


async def test_a_wrong_agent_id_is_permanent(fake_wecom_app: FakeWeComApp) -> None:
    err = await expect_error(channel(fake_wecom_app, agent_id=7), app_message())
    assert not err.retryable and err.provider_code == "40056"


async def test_a_person_without_a_userid_fails_before_any_request(
    fake_wecom_app: FakeWeComApp,
) -> None:
    err = await expect_error(channel(fake_wecom_app), app_message(to_wecom_userid=None))
    assert not err.retryable and "wecom_userid" in err.reason
    assert fake_wecom_app.requests == []


async def test_a_resend_after_a_lost_answer_is_shown_once(fake_wecom_app: FakeWeComApp) -> None:
    ch = channel(fake_wecom_app)
    first = await ch.send(app_message())
    again = await ch.send(app_message())  # the same rendering: the same body
    await ch.aclose()
    assert len(fake_wecom_app.accepted) == 2 and len(fake_wecom_app.delivered) == 1
    assert first.provider_message_id == again.provider_message_id


async def test_a_server_error_is_retryable(fake_wecom_app: FakeWeComApp) -> None:
    fake_wecom_app.fail_next(status=502)
    err = await expect_error(channel(fake_wecom_app), app_message())
    assert err.retryable and err.provider_code == "HTTP 502"


async def test_build_channel_passes_the_token_store(fake_wecom_app: FakeWeComApp) -> None:
    store = MemoryTokenStore()
    settings = WeComAppSettings(
        corp_id=fake_wecom_app.corp_id,
        agent_id=fake_wecom_app.agent_id,
        secret=fake_wecom_app.secret,
        api_base=fake_wecom_app.base_url,
    )
    built = build_channel("wecom_app", settings, tokens=store)
    await built.send(app_message())
    await built.aclose()
    assert built.name == "wecom_app" and built.family == "chat" and len(store.tokens) == 1
