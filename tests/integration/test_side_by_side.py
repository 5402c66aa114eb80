"""`duban run engine`, `duban run notifier` and `duban run ack` share a host with their
default ports, each ready by its /readyz; a port in use stops a start before it joins a
consumer group."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts.topics import Topics
from tests.integration.conftest import wait_for
from tests.integration.processes import ready, stop
from tests.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
DUBAN = Path(sys.executable).parent / "duban"


@pytest.fixture
def env(stack: LocalStack) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {
        f"DUBAN_TOPIC_{f.name.upper()}": f"{getattr(Topics(), f.name)}.{tag}"
        for f in fields(Topics)
    }
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")},
        **names,
        "DUBAN_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "DUBAN_REDIS_URL": stack.redis_url.rsplit("/", 1)[0] + "/1",
        "DUBAN_ENGINE_GROUP": f"engine-{tag}",
        "DUBAN_NOTIFIER_GROUP": f"notifier-{tag}",
        "DUBAN_TOPIC_PARTITIONS": "2",
        "DUBAN_ACK_SECRET": "side-by-side-secret",
    }


@pytest.fixture
def start(env: dict[str, str]) -> Iterator:
    started: list[subprocess.Popen[str]] = []

    def run(service: str) -> subprocess.Popen[str]:
        command = [str(DUBAN), "run", service, "--config", str(ROOT / "deploy/config/example")]
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started.append(process)
        return process

    yield run
    for process in started:
        stop(process)


async def members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [group_info] = described.to_object()["groups"]
    return len(group_info["members"])


async def test_three_services_share_a_host_and_a_taken_port_stops_a_start_early(
    start, env: dict[str, str]
) -> None:
    engine, notifier, ack = start("engine"), start("notifier"), start("ack")
    for port in (9310, 9311, 8086):
        await wait_for(lambda p=port: ready(p), timeout_s=90, what=f"/readyz on {port}")
    assert engine.poll() is None and notifier.poll() is None and ack.poll() is None

    second = start("engine")
    _, err = await asyncio.to_thread(second.communicate, timeout=60)
    assert second.returncode != 0
    assert "DUBAN_METRICS_PORT" in err and "9310" in err and "Traceback" not in err
    assert await members(env["DUBAN_KAFKA_BOOTSTRAP"], env["DUBAN_ENGINE_GROUP"]) == 1
