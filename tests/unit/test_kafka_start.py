"""A service started while the broker is down waits for it instead of exiting."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError

import services.kafka as kafka


class FlakyAdmin:
    """An admin client whose first starts fail as with no broker listening."""

    failures = 3
    started = 0
    closed = 0

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap = bootstrap_servers

    async def start(self) -> None:
        if FlakyAdmin.failures:
            FlakyAdmin.failures -= 1
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 19092)]")
        FlakyAdmin.started += 1

    async def close(self) -> None:
        FlakyAdmin.closed += 1


async def test_the_admin_client_is_retried_with_growing_waits_until_the_broker_answers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", FlakyAdmin)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    admin = await kafka._admin("127.0.0.1:19092", sleep=sleep)
    assert isinstance(admin, FlakyAdmin) and FlakyAdmin.started == 1
    assert waits == [1.0, 2.0, 4.0] and FlakyAdmin.closed == 3  # each failed client closed
    assert "Kafka unreachable; retrying in 1 s" in caplog.text
