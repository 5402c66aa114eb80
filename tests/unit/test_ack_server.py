"""Starting the ack service: the port is claimed first, and a port in use, a missing
secret or an unreachable Kafka is reported clearly and leaves nothing bound."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiokafka.errors import KafkaConnectionError

from services.ack.server import bind_listening_sockets, running_ack
from services.settings import Settings

NO_KAFKA = "127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DUBAN_ACK_SECRET", "ack-server-unit-secret")
    return Settings().model_copy(update={"kafka_bootstrap": NO_KAFKA, "http_host": "127.0.0.1"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_use_is_named(taken_port: int) -> None:
    with pytest.raises(RuntimeError, match=rf"port {taken_port} on 127.0.0.1 is in use"):
        bind_listening_sockets("127.0.0.1", taken_port)


def test_an_address_not_of_this_machine_is_named() -> None:
    with pytest.raises(RuntimeError, match=r"cannot listen on 192\.0\.2\.1:0.*DUBAN_HTTP_HOST"):
        bind_listening_sockets("192.0.2.1", 0)  # TEST-NET-1: never a local address


async def test_the_port_is_checked_before_kafka_is_contacted(
    settings: Settings, taken_port: int
) -> None:
    with pytest.raises(RuntimeError, match=rf"port {taken_port} .*DUBAN_ACK_HTTP_PORT"):
        async with running_ack(settings.model_copy(update={"ack_http_port": taken_port})):
            pytest.fail("served on a port in use")


async def test_a_missing_secret_is_reported_before_the_port_is_claimed(
    settings: Settings, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUBAN_ACK_SECRET")
    with pytest.raises(RuntimeError, match="DUBAN_ACK_SECRET"):
        async with running_ack(settings.model_copy(update={"ack_http_port": taken_port})):
            pytest.fail("served without a secret")


async def test_unreachable_kafka_at_start_releases_the_port(settings: Settings) -> None:
    port = free_port()
    with pytest.raises(KafkaConnectionError):
        async with running_ack(settings.model_copy(update={"ack_http_port": port})):
            pytest.fail("served without Kafka")
    bind_listening_sockets("127.0.0.1", port)[0].close()  # free again
