"""Runtime settings: every DUBAN_* variable, read once at start through pydantic-settings.

This is the only module that reads ``os.environ``. A service gets a :class:`Settings` and
takes everything from it: addresses, topics and tuning as typed fields, and the variables
channels.yaml names (``${NAME}``) and ``DUBAN_ACK_SECRET`` from :meth:`Settings.environment`,
whose values are kept as ``SecretStr``. Never secrets in YAML.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from contracts.plausible import Plausibility
from contracts.registry import InputLimits
from contracts.topics import Topics

Count = Annotated[int, Field(ge=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]
_TOPIC = "topic_"
_DEFAULT_TOPICS = Topics()
_DEFAULT_DATES = Plausibility()


def all_topics(topics: Topics) -> list[str]:
    """Every topic duban uses."""
    return [getattr(topics, f.name) for f in fields(topics)]


class Variables(Mapping[str, str]):
    """Environment variables taken at start, each value kept as a ``SecretStr``: reading a
    name gives its text, while ``repr`` and logs of the whole show names only."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {name: SecretStr(value) for name, value in values.items()}

    def __getitem__(self, name: str) -> str:
        return self._values[name].get_secret_value()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Variables({len(self._values)} variables, values hidden)"

    def secret(self, name: str) -> SecretStr | None:
        """The variable as a SecretStr; None when it is unset or empty."""
        value = self._values.get(name)
        return value if value is not None and value.get_secret_value() else None


def read_environment() -> Variables:
    """The process environment, now; `duban` reads it once at start and passes it down."""
    return Variables(os.environ)


def sentinel_addresses(text: str) -> list[tuple[str, int]]:
    """Text like "host:port,host:port" as (host, port) pairs; ValueError saying what is
    wrong."""
    addresses = []
    for item in (part.strip() for part in text.split(",")):
        host, colon, port = item.rpartition(":")
        if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"expected host:port[,host:port...], not {item!r}")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


class SettingsError(ValueError):
    """A DUBAN_* variable whose value cannot be used; the message names it."""


class Settings(BaseSettings):
    """Everything a service needs besides the config folder; field ``x`` is ``DUBAN_X``."""

    model_config = SettingsConfigDict(env_prefix="DUBAN_", frozen=True, env_ignore_empty=True)

    config_dir: Path = Path("deploy/config/example")
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6390/0"
    # Redis Sentinel (docs/reliability.md): "host:port,host:port,..." of the sentinels.
    # Set, duban asks them for the primary of DUBAN_REDIS_MASTER and follows a failover;
    # DUBAN_REDIS_URL then gives only the password, user and database (not the host).
    redis_sentinels: str | None = None
    redis_master: str = "mymaster"
    # After each write a Kafka offset commit depends on (the engine's state commits, the
    # notifier's sent marks and quiet-hours deferrals): WAIT until this many replicas have
    # it, at most the timeout, else the batch is redelivered. 0: do not wait.
    redis_wait_replicas: Annotated[int, Field(ge=0)] = 0
    redis_wait_timeout_ms: Count = 1000
    # DUBAN_TOPIC_<NAME>: one field per name of contracts.topics.Topics (see `topics`).
    topic_hazard_events: str = _DEFAULT_TOPICS.hazard_events
    topic_duty_events: str = _DEFAULT_TOPICS.duty_events
    topic_notice_acks: str = _DEFAULT_TOPICS.notice_acks
    topic_notice_requested: str = _DEFAULT_TOPICS.notice_requested
    topic_notice_receipts: str = _DEFAULT_TOPICS.notice_receipts
    topic_dlq_events: str = _DEFAULT_TOPICS.dlq_events
    topic_dlq_notices: str = _DEFAULT_TOPICS.dlq_notices
    topic_task_events: str = _DEFAULT_TOPICS.task_events
    engine_group: str = "duban-engine"
    notifier_group: str = "duban-notifier"
    # notifier: notices per batch (256 in delivery at once). The batch's tail, its last
    # sends and receipts, leaves the loop part idle: long batches make it a small share.
    batch_max: Count = 2000
    engine_batch_max: Count = 2000  # engine: events per batch; one Redis round trip each way
    topic_partitions: Count = 6
    timer_batch: Count = 500
    timer_lease_s: Seconds = 30.0
    timer_idle_poll_s: Seconds = 0.2
    catch_up_timeout_s: Seconds = 60.0
    # timers wait for inbound events not yet applied (services/engine/watermark.py), at
    # most this long; 0 turns the wait off
    timer_hold_max_s: float = Field(default=300.0, ge=0)
    ack_http_port: Port = 8086
    http_host: str = "127.0.0.1"
    metrics_port: Port = 9310  # the engine's health and metrics (and `run all`'s)
    notifier_metrics_port: Port = 9311  # the notifier's, so both can share a host
    ack_base_url: str = "http://127.0.0.1:8086"
    service_name: str = "duban"
    rate_limits: bool = True  # channels' shared send-rate limits; off only for benchmarks
    # A notice no channel could deliver for now is tried again until this long after it
    # was due, then dead-lettered (services/notifier/holding.py).
    undelivered_hold_s: Seconds = 86_400.0
    poison_attempts: Count = 3  # a record failing this often while Kafka and Redis answer
    max_event_bytes: Count = 1_000_000  # inbound messages: refused (dead-lettered) above this
    max_json_depth: Count = 32
    # Dates in events outside [earliest, latest] are refused, and deadlines earlier than
    # found_at by more than the tolerance.
    earliest_date: date = _DEFAULT_DATES.earliest
    latest_date: date = _DEFAULT_DATES.latest
    deadline_tolerance_days: Annotated[int, Field(ge=0)] = _DEFAULT_DATES.deadline_tolerance.days
    # The audit trail (`duban run audit`): PostgreSQL's address (a secret: it may carry a
    # password), its consumer group and batch size, and the ops console's address. The
    # console refuses to bind anywhere but loopback without DUBAN_CONSOLE_TOKEN.
    audit_dsn: SecretStr = SecretStr("postgresql://duban@127.0.0.1:5433/duban")
    audit_group: str = "duban-audit"
    audit_batch_max: Count = 5000
    console_host: str = "127.0.0.1"
    console_port: Port = 9320
    console_token: SecretStr | None = None
    # SMS delivery reports and replies (docs/delivery.md): the providers' callbacks must
    # carry ?token=DUBAN_CALLBACK_TOKEN (unset: every callback is refused); an SMS whose
    # report has not come within the timeout goes to the person's next channel (the generic
    # gateway pushes no reports: only when sms_gateway_report_timeout says so); a reply
    # code acknowledges for this many days.
    callback_token: SecretStr | None = None
    sms_report_timeout_s: Seconds = 600.0
    sms_gateway_report_timeout: bool = False
    sms_reply_code_days: Count = 30

    _variables: Variables | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _spread_topics(cls, data: Any) -> Any:
        # Tests and benches name a run's own topics at once: Settings(topics=Topics(...)).
        if not (isinstance(data, dict) and isinstance(data.get("topics"), Topics)):
            return data
        topics = data["topics"]
        named = {_TOPIC + f.name: getattr(topics, f.name) for f in fields(Topics)}
        return {k: v for k, v in data.items() if k != "topics"} | named

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_list(cls, value: str | None) -> str | None:
        if value is not None:
            sentinel_addresses(value)  # raises naming what is wrong
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> Settings:
        if self.earliest_date > self.latest_date:
            raise ValueError(
                f"DUBAN_EARLIEST_DATE / DUBAN_LATEST_DATE: {self.earliest_date} is after "
                f"{self.latest_date}"
            )
        return self

    @property
    def topics(self) -> Topics:
        """The topic names in use."""
        return Topics(**{f.name: getattr(self, _TOPIC + f.name) for f in fields(Topics)})

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The sentinels as (host, port); empty without DUBAN_REDIS_SENTINELS."""
        return [] if self.redis_sentinels is None else sentinel_addresses(self.redis_sentinels)

    @property
    def plausibility(self) -> Plausibility:
        """The dates an event may carry."""
        tolerance = timedelta(days=self.deadline_tolerance_days)
        return Plausibility(self.earliest_date, self.latest_date, tolerance)

    @property
    def input_limits(self) -> InputLimits:
        """How large, deep and plausible an inbound message must be."""
        return InputLimits(self.max_event_bytes, self.max_json_depth, self.plausibility)

    def environment(self) -> Variables:
        """The variables channels.yaml names and the ack secret: those `from_env` read.
        Settings built in code (tests, benches) take the process environment when asked,
        so a test may set a fake provider's variables after building its settings."""
        return self._variables if self._variables is not None else read_environment()

    @property
    def ack_secret(self) -> SecretStr | None:
        """DUBAN_ACK_SECRET, which signs acknowledgement links; None when unset."""
        return self.environment().secret("DUBAN_ACK_SECRET")

    @classmethod
    def from_env(
        cls, config_dir: Path | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from DUBAN_* variables of `env` (default: the process environment,
        read now), defaults for the local stack. Raises SettingsError naming the variable."""
        if env is None:
            variables = read_environment()
        else:
            variables = env if isinstance(env, Variables) else Variables(env)
        values = _VariablesSource(cls, variables)()
        if config_dir is not None:
            values["config_dir"] = config_dir
        try:
            settings = cls.model_validate(values)
        except ValidationError as e:
            raise SettingsError(_named(e)) from None
        settings._variables = variables
        return settings


class _VariablesSource(EnvSettingsSource):
    """pydantic-settings' environment source, over a snapshot rather than os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        self._snapshot = variables
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._snapshot, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _named(error: ValidationError) -> str:
    """pydantic's errors, each naming its variable and the value it had."""
    reasons = []
    for problem in error.errors(include_url=False):
        if problem["loc"]:
            variable = f"DUBAN_{str(problem['loc'][0]).upper()}"
            reasons.append(f"{variable}={problem['input']!r}: {problem['msg']}")
        else:
            reasons.append(problem["msg"].removeprefix("Value error, "))
    return "; ".join(reasons)
