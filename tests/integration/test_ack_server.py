"""The ack service as `duban run ack` serves it (services.ack.server.running_ack), on the
real Kafka and Redis: HEAD, GET and other texts of a valid link publish nothing, POST
publishes exactly one acknowledgement and a second POST nothing more, readiness sees Kafka,
and the access log carries no token."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from services.ack.app import acknowledgement_id
from services.ack.server import running_ack
from services.acktoken import AckClaim, sign
from services.settings import Settings
from tests.integration.conftest import read_topic

SECRET = "ack-server-integration-secret-0123"
NOTICE, PERSON = "H1:major-report:report", "R1"


@pytest.fixture
async def base_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setenv("DUBAN_ACK_SECRET", SECRET)
    async with running_ack(settings.model_copy(update={"ack_http_port": 0})) as runner:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"


def valid_token() -> str:
    return sign(SECRET.encode(), AckClaim(NOTICE, PERSON, int(time.time()) + 86400))


async def test_only_a_post_of_the_canonical_token_publishes_once(
    base_url: str, settings: Settings
) -> None:
    token = valid_token()
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.head("/ack", params={"t": token})).status_code == 405
        shown = await client.get("/ack", params={"t": token})
        assert shown.status_code == 200 and ">确认收到</button>" in shown.text
        for variant in (f"{token}=", f"{token}==", f"{token}!!", f" {token}"):
            refused = await client.post("/ack", data={"t": variant})
            assert refused.status_code == 403 and "链接无效或已过期" in refused.text
        accepted = await client.post("/ack", data={"t": token})
        assert accepted.status_code == 200 and "已确认收到" in accepted.text
        again = await client.post("/ack", data={"t": token})  # remembered in Redis
        assert again.status_code == 200 and "已确认过" in again.text
    # One partition holds every record of this notice, in order: anything the HEAD, the GET
    # or the variants had published would be read before the POST's record, and a second
    # record would follow it.
    acks = await read_topic(settings.kafka_bootstrap, settings.topics.notice_acks, 1)
    assert len(acks) == 1
    event = json.loads(acks[0].value)
    assert event["id"] == acknowledgement_id(NOTICE, PERSON)
    assert event["data"]["person_id"] == PERSON and acks[0].key == NOTICE.encode()


async def test_liveness_and_readiness_with_kafka_up(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/healthz")).text == "ok"
        ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"


async def test_the_access_log_line_of_an_acknowledgement_has_no_token(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = valid_token()
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with httpx.AsyncClient(base_url=base_url) as client:
            assert (await client.get("/ack", params={"t": token})).status_code == 200
            assert (await client.post("/ack", data={"t": token})).status_code == 200
            await client.get("/callbacks/wecom", params={"token": token})  # 404 today
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert access[0].startswith('"GET /ack" 200 ')
    assert access[1].startswith('"POST /ack" 200 ')
    assert access[2].startswith('"GET /callbacks/wecom" 404 ')
    for part in token.split("."):
        assert part not in caplog.text  # in no record of any logger
    assert not [line for line in access if "t=" in line]
