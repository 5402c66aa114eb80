"""Runtime settings from the environment (addresses, topics, tuning); never secrets in YAML."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from pathlib import Path

from contracts.plausible import Plausibility
from contracts.registry import InputLimits
from contracts.topics import Topics

_OFF = frozenset({"off", "0", "false", "no"})


def all_topics(topics: Topics) -> list[str]:
    """Every topic duban uses."""
    return [getattr(topics, f.name) for f in fields(topics)]


@dataclass(frozen=True)
class Settings:
    """Everything a service needs besides the config folder."""

    config_dir: Path = Path("deploy/config/example")
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6390/0"
    topics: Topics = field(default_factory=Topics)
    engine_group: str = "duban-engine"
    notifier_group: str = "duban-notifier"
    # notifier: notices per batch (256 in delivery at once). The batch's tail, its last
    # sends and receipts, leaves the loop part idle: long batches make it a small share.
    batch_max: int = 2000
    engine_batch_max: int = 2000  # engine: events per batch; one Redis round trip each way
    topic_partitions: int = 6
    timer_batch: int = 500
    timer_lease_s: float = 30.0
    timer_idle_poll_s: float = 0.2
    catch_up_timeout_s: float = 60.0
    ack_http_port: int = 8086
    http_host: str = "127.0.0.1"
    metrics_port: int = 9310  # the engine's health and metrics (and `run all`'s)
    notifier_metrics_port: int = 9311  # the notifier's, so both can share a host
    ack_base_url: str = "http://127.0.0.1:8086"
    service_name: str = "duban"
    rate_limits: bool = True  # channels' shared send-rate limits; off only for benchmarks
    poison_attempts: int = 3  # a record failing this often while Kafka and Redis answer
    max_event_bytes: int = 1_000_000  # inbound messages: refused (dead-lettered) above this
    max_json_depth: int = 32
    plausibility: Plausibility = field(default_factory=Plausibility)  # dates refused outside

    @property
    def input_limits(self) -> InputLimits:
        """How large, deep and plausible an inbound message must be."""
        return InputLimits(self.max_event_bytes, self.max_json_depth, self.plausibility)

    @classmethod
    def from_env(cls, config_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from DUBAN_* environment variables, defaults for the local stack."""
        e = os.environ if env is None else env
        topic_names = {
            f.name: e.get(f"DUBAN_TOPIC_{f.name.upper()}", getattr(Topics(), f.name))
            for f in fields(Topics)
        }
        return cls(
            config_dir=config_dir,
            kafka_bootstrap=e.get("DUBAN_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            redis_url=e.get("DUBAN_REDIS_URL", cls.redis_url),
            topics=Topics(**topic_names),
            engine_group=e.get("DUBAN_ENGINE_GROUP", cls.engine_group),
            engine_batch_max=_int(e, "DUBAN_ENGINE_BATCH_MAX", cls.engine_batch_max),
            notifier_group=e.get("DUBAN_NOTIFIER_GROUP", cls.notifier_group),
            ack_http_port=_int(e, "DUBAN_ACK_HTTP_PORT", cls.ack_http_port),
            http_host=e.get("DUBAN_HTTP_HOST", cls.http_host),
            metrics_port=_int(e, "DUBAN_METRICS_PORT", cls.metrics_port),
            notifier_metrics_port=_int(e, "DUBAN_NOTIFIER_METRICS_PORT", cls.notifier_metrics_port),
            topic_partitions=_int(e, "DUBAN_TOPIC_PARTITIONS", cls.topic_partitions),
            ack_base_url=e.get("DUBAN_ACK_BASE_URL", cls.ack_base_url),
            rate_limits=e.get("DUBAN_RATE_LIMITS", "on").strip().lower() not in _OFF,
            poison_attempts=_int(e, "DUBAN_POISON_ATTEMPTS", cls.poison_attempts),
            max_event_bytes=_int(e, "DUBAN_MAX_EVENT_BYTES", cls.max_event_bytes),
            max_json_depth=_int(e, "DUBAN_MAX_JSON_DEPTH", cls.max_json_depth),
            plausibility=_plausibility(e),
        )


class SettingsError(ValueError):
    """A DUBAN_* variable whose value cannot be used; the message names it."""


def _plausibility(env: Mapping[str, str]) -> Plausibility:
    default = Plausibility()
    earliest = _date(env, "DUBAN_EARLIEST_DATE", default.earliest)
    latest = _date(env, "DUBAN_LATEST_DATE", default.latest)
    days = env.get("DUBAN_DEADLINE_TOLERANCE_DAYS")
    tolerance = default.deadline_tolerance
    if days is not None:
        tolerance = timedelta(days=_int(env, "DUBAN_DEADLINE_TOLERANCE_DAYS", 1, minimum=0))
    try:
        return Plausibility(earliest, latest, tolerance)
    except ValueError as e:
        raise SettingsError(f"DUBAN_EARLIEST_DATE / DUBAN_LATEST_DATE: {e}") from None


def _date(env: Mapping[str, str], name: str, default: date) -> date:
    text = env.get(name)
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: expected a date YYYY-MM-DD") from None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r}: expected a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={text!r}: expected a whole number of at least {minimum}")
    return value
