"""Static checks of compose.yaml (Docker is not needed: the file is only parsed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose.yaml"
DUBAN_SERVICES = ("engine", "notifier", "ack")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # safe_load resolves the `<<: *duban-service` merge keys like Compose does.
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result = compose["services"]
    assert isinstance(result, dict)
    return result


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """Compose allows `environment` as a mapping or as a list of KEY=VALUE."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def _host_ips(port: Any) -> list[str | None]:
    """The host IP(s) a `ports:` entry binds; None means "all interfaces".

    Short syntax: "[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]"; long syntax: a
    mapping with `host_ip`. IPv6 host IPs ("[::1]:...") are not used in this file.
    """
    if isinstance(port, dict):
        return [port.get("host_ip")] if "published" in port else [None]
    spec = str(port).split("/", 1)[0]
    parts = spec.split(":")
    return [parts[0] if len(parts) == 3 else None]


def test_names_all_services(services: dict[str, Any]) -> None:
    assert {"kafka", "redis", "mail", *DUBAN_SERVICES} <= set(services)


def test_every_published_port_binds_loopback_only(services: dict[str, Any]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            assert _host_ips(port) == ["127.0.0.1"], f"{name}: {port!r} is not bound to 127.0.0.1"
    assert published >= 3  # kafka, redis and smtp at least are reachable from the host


def test_redis_has_aof_persistence_on_a_volume(services: dict[str, Any]) -> None:
    redis = services["redis"]
    command = redis.get("command", [])
    words = command.split() if isinstance(command, str) else [str(word) for word in command]
    assert "--appendonly" in words
    assert words[words.index("--appendonly") + 1] == "yes"
    assert any(str(volume).split(":")[1] == "/data" for volume in redis.get("volumes", []))


def test_kafka_is_a_single_kraft_node(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:")
    env = _environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].replace(" ", "").split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "CONTROLLER" in env["KAFKA_LISTENERS"]
    assert not any(key.startswith("KAFKA_ZOOKEEPER") for key in env)
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    # Host clients must be told to dial the published address.
    assert "127.0.0.1:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.parametrize("name", DUBAN_SERVICES)
def test_duban_services_run_from_the_image_with_config(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert service["command"][:2] == ["run", name]
    assert "--config" in service["command"]
    assert any(str(volume).startswith("./deploy/config/example:") for volume in service["volumes"])
    env = _environment(service)
    assert env["DUBAN_KAFKA_BOOTSTRAP"].startswith("kafka:")
    assert env["DUBAN_REDIS_URL"].startswith("redis://redis:")
    assert env["DUBAN_SMTP_HOST"] == "mail"
    assert env["DUBAN_SMTP_TLS"] == "none"
    assert {"DUBAN_SMTP_PORT", "DUBAN_SMTP_FROM"} <= set(env)


def test_the_ha_profile_adds_a_replica_and_three_sentinels_only_when_asked(
    services: dict[str, Any],
) -> None:
    ha = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    assert ha == {"redis-primary", "redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert all(
        service.get("profiles") is None for name, service in services.items() if name not in ha
    )
    replica = [str(word) for word in services["redis-replica"]["command"]]
    assert replica[replica.index("--replicaof") + 1] == "redis-primary"
    for name in ("redis-primary", "redis-replica"):
        words = [str(word) for word in services[name]["command"]]
        assert words[words.index("--min-replicas-to-write") + 1] == "1"
        assert words[words.index("--appendfsync") + 1] == "always"
    monitor = "sentinel monitor mymaster redis-primary 6379 2"
    assert all(monitor in services[f"sentinel-{n}"]["command"][0] for n in (1, 2, 3))
