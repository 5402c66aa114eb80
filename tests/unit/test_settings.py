"""Settings from the environment: a bad value names its variable."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from contracts.topics import Topics
from services.settings import Settings, SettingsError, Variables

# Every field's variable, a value other than its default, and what the field then holds.
EVERY_VARIABLE: dict[str, tuple[str, Any]] = {
    "DUBAN_CONFIG_DIR": ("/etc/duban", Path("/etc/duban")),
    "DUBAN_KAFKA_BOOTSTRAP": ("kafka-1:9092,kafka-2:9092", "kafka-1:9092,kafka-2:9092"),
    "DUBAN_REDIS_URL": ("redis://redis:6379/3", "redis://redis:6379/3"),
    "DUBAN_REDIS_SENTINELS": ("s1:26379,s2:26379", "s1:26379,s2:26379"),
    "DUBAN_REDIS_MASTER": ("duban", "duban"),
    "DUBAN_REDIS_WAIT_REPLICAS": ("1", 1),
    "DUBAN_REDIS_WAIT_TIMEOUT_MS": ("500", 500),
    "DUBAN_TOPIC_HAZARD_EVENTS": ("t.hazards", "t.hazards"),
    "DUBAN_TOPIC_DUTY_EVENTS": ("t.duties", "t.duties"),
    "DUBAN_TOPIC_NOTICE_ACKS": ("t.acks", "t.acks"),
    "DUBAN_TOPIC_NOTICE_REQUESTED": ("t.requested", "t.requested"),
    "DUBAN_TOPIC_NOTICE_RECEIPTS": ("t.receipts", "t.receipts"),
    "DUBAN_TOPIC_DLQ_EVENTS": ("t.dlq.events", "t.dlq.events"),
    "DUBAN_TOPIC_DLQ_NOTICES": ("t.dlq.notices", "t.dlq.notices"),
    "DUBAN_TOPIC_TASK_EVENTS": ("t.tasks", "t.tasks"),
    "DUBAN_ENGINE_GROUP": ("eng", "eng"),
    "DUBAN_NOTIFIER_GROUP": ("notif", "notif"),
    "DUBAN_BATCH_MAX": ("100", 100),
    "DUBAN_ENGINE_BATCH_MAX": ("200", 200),
    "DUBAN_TOPIC_PARTITIONS": ("12", 12),
    "DUBAN_TIMER_BATCH": ("50", 50),
    "DUBAN_TIMER_LEASE_S": ("45.5", 45.5),
    "DUBAN_TIMER_IDLE_POLL_S": ("0.5", 0.5),
    "DUBAN_CATCH_UP_TIMEOUT_S": ("120", 120.0),
    "DUBAN_TIMER_HOLD_MAX_S": ("600", 600.0),
    "DUBAN_ACK_HTTP_PORT": ("18086", 18086),
    "DUBAN_HTTP_HOST": ("0.0.0.0", "0.0.0.0"),
    "DUBAN_METRICS_PORT": ("19310", 19310),
    "DUBAN_NOTIFIER_METRICS_PORT": ("19311", 19311),
    "DUBAN_ACK_BASE_URL": ("https://duban.example.gov.cn", "https://duban.example.gov.cn"),
    "DUBAN_SERVICE_NAME": ("duban-town", "duban-town"),
    "DUBAN_RATE_LIMITS": ("off", False),
    "DUBAN_POISON_ATTEMPTS": ("5", 5),
    "DUBAN_UNDELIVERED_HOLD_S": ("3600", 3600.0),
    "DUBAN_MAX_EVENT_BYTES": ("2000000", 2_000_000),
    "DUBAN_MAX_JSON_DEPTH": ("16", 16),
    "DUBAN_EARLIEST_DATE": ("2010-01-01", date(2010, 1, 1)),
    "DUBAN_LATEST_DATE": ("2060-12-31", date(2060, 12, 31)),
    "DUBAN_DEADLINE_TOLERANCE_DAYS": ("3", 3),
    "DUBAN_CALLBACK_TOKEN": ("callback-token-value", SecretStr("callback-token-value")),
    "DUBAN_SMS_REPORT_TIMEOUT_S": ("300", 300.0),
    "DUBAN_SMS_GATEWAY_REPORT_TIMEOUT": ("true", True),
    "DUBAN_SMS_REPLY_CODE_DAYS": ("7", 7),
    "DUBAN_AUDIT_DSN": ("postgresql://a:pw@db/duban", SecretStr("postgresql://a:pw@db/duban")),
    "DUBAN_AUDIT_GROUP": ("audit-town", "audit-town"),
    "DUBAN_AUDIT_BATCH_MAX": ("1000", 1000),
    "DUBAN_CONSOLE_HOST": ("0.0.0.0", "0.0.0.0"),
    "DUBAN_CONSOLE_PORT": ("19320", 19320),
    "DUBAN_CONSOLE_TOKEN": ("console-token-value", SecretStr("console-token-value")),
}
SECRETS = {
    "DUBAN_ACK_SECRET": "ack-secret-value-0123",
    "DUBAN_SMTP_PASSWORD": "smtp-password-value",
    "DUBAN_DINGTALK_SECRET": "SECdingtalk-secret-value",
    "DUBAN_WECOM_WEBHOOK_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1",
}


def field_of(variable: str) -> str:
    return variable.removeprefix("DUBAN_").lower()


def test_a_bad_setting_names_its_variable() -> None:
    with pytest.raises(SettingsError, match="DUBAN_POISON_ATTEMPTS='three'"):
        Settings.from_env(Path("."), {"DUBAN_POISON_ATTEMPTS": "three"})
    with pytest.raises(SettingsError, match="DUBAN_EARLIEST_DATE"):
        Settings.from_env(Path("."), {"DUBAN_EARLIEST_DATE": "2000/01/01"})
    settings = Settings.from_env(Path("."), {"DUBAN_DEADLINE_TOLERANCE_DAYS": "0"})
    assert settings.input_limits.plausibility.deadline_tolerance.days == 0


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        ("DUBAN_POISON_ATTEMPTS", "three", "valid integer"),
        ("DUBAN_ACK_HTTP_PORT", "80a", "valid integer"),
        ("DUBAN_POISON_ATTEMPTS", "0", "greater than or equal to 1"),
        ("DUBAN_METRICS_PORT", "70000", "less than or equal to 65535"),
        ("DUBAN_DEADLINE_TOLERANCE_DAYS", "-1", "greater than or equal to 0"),
        ("DUBAN_TIMER_LEASE_S", "soon", "valid number"),
        ("DUBAN_LATEST_DATE", "2100-13-01", "valid date"),
        ("DUBAN_EARLIEST_DATE", "2000/01/01", "valid date"),
        ("DUBAN_RATE_LIMITS", "maybe", "valid boolean"),
        ("DUBAN_REDIS_SENTINELS", "s1:26379,s2", "expected host:port"),
        ("DUBAN_REDIS_SENTINELS", "s1:port", "expected host:port"),
        ("DUBAN_REDIS_WAIT_REPLICAS", "-1", "greater than or equal to 0"),
        ("DUBAN_REDIS_WAIT_TIMEOUT_MS", "0", "greater than or equal to 1"),
    ],
)
def test_a_bad_integer_date_or_boolean_names_its_variable_and_value(
    variable: str, text: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(Path("."), {variable: text})
    assert str(caught.value).startswith(f"{variable}={text!r}: ")
    assert expected in str(caught.value)


def test_every_bad_variable_is_named_at_once() -> None:
    env = {"DUBAN_BATCH_MAX": "many", "DUBAN_RATE_LIMITS": "sometimes"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(Path("."), env)
    assert "DUBAN_BATCH_MAX='many'" in str(caught.value)
    assert "DUBAN_RATE_LIMITS='sometimes'" in str(caught.value)


def test_dates_out_of_order_name_both_variables() -> None:
    env = {"DUBAN_EARLIEST_DATE": "2050-01-01", "DUBAN_LATEST_DATE": "2040-01-01"}
    with pytest.raises(SettingsError, match="DUBAN_EARLIEST_DATE / DUBAN_LATEST_DATE"):
        Settings.from_env(Path("."), env)


def test_every_field_is_covered_by_the_table() -> None:
    assert {field_of(v) for v in EVERY_VARIABLE} == set(Settings.model_fields)


def test_every_field_is_read_from_its_variable() -> None:
    settings = Settings.from_env(None, {v: text for v, (text, _) in EVERY_VARIABLE.items()})
    for variable, (_, expected) in EVERY_VARIABLE.items():
        assert getattr(settings, field_of(variable)) == expected, variable
    assert settings.topics == Topics(
        "t.hazards", "t.duties", "t.acks", "t.requested", "t.receipts", "t.dlq.events",
        "t.dlq.notices", "t.tasks",
    )  # fmt: skip
    assert settings.input_limits.max_bytes == 2_000_000
    assert settings.input_limits.max_depth == 16
    assert settings.plausibility.deadline_tolerance == timedelta(days=3)


def test_the_process_environment_is_read_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, (text, _) in EVERY_VARIABLE.items():
        monkeypatch.setenv(variable, text)
    from_process = Settings.from_env()
    assert from_process.model_dump() == Settings().model_dump()  # pydantic-settings' own
    for variable, (_, expected) in EVERY_VARIABLE.items():
        assert getattr(from_process, field_of(variable)) == expected, variable


def test_the_config_folder_given_wins_and_unset_or_empty_variables_keep_defaults() -> None:
    settings = Settings.from_env(Path("cfg"), {"DUBAN_CONFIG_DIR": "/etc/duban"})
    assert settings.config_dir == Path("cfg")
    empty = Settings.from_env(None, {"DUBAN_BATCH_MAX": "", "DUBAN_REDIS_URL": ""})
    assert empty.model_dump() == Settings.from_env(None, {}).model_dump()
    assert empty.batch_max == 2000 and empty.topics == Topics() and empty.rate_limits


@pytest.mark.parametrize(
    ("text", "on"), [("off", False), ("0", False), ("no", False), ("on", True)]
)
def test_rate_limits_take_the_usual_words(text: str, on: bool) -> None:
    assert Settings.from_env(None, {"DUBAN_RATE_LIMITS": text}).rate_limits is on


def test_secrets_are_secret_strings_never_shown() -> None:
    settings = Settings.from_env(None, {**SECRETS, "DUBAN_KAFKA_BOOTSTRAP": "k:9092"})
    environment = settings.environment()
    assert isinstance(settings.ack_secret, SecretStr)
    assert settings.ack_secret.get_secret_value() == SECRETS["DUBAN_ACK_SECRET"]
    for name, value in SECRETS.items():
        secret = environment.secret(name)
        assert isinstance(secret, SecretStr) and secret.get_secret_value() == value
        assert environment[name] == value  # what ${NAME} in channels.yaml expands to
    assert "k:9092" in repr(settings)
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(environment)]
    shown += [str(settings.model_dump()), repr(settings.ack_secret)]
    for text in shown:
        for value in SECRETS.values():
            assert value not in text


def test_an_unset_or_empty_ack_secret_is_none() -> None:
    assert Settings.from_env(None, {}).ack_secret is None
    assert Settings.from_env(None, {"DUBAN_ACK_SECRET": ""}).ack_secret is None


def test_the_environment_is_read_once_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_WEBHOOK_SECRET", "before-start")
    settings = Settings.from_env()
    monkeypatch.setenv("DUBAN_WEBHOOK_SECRET", "after-start")
    monkeypatch.setenv("DUBAN_ACK_SECRET", "after-start")
    assert settings.environment()["DUBAN_WEBHOOK_SECRET"] == "before-start"
    assert settings.ack_secret is None
    copy = settings.model_copy(update={"batch_max": 5})
    assert copy.environment()["DUBAN_WEBHOOK_SECRET"] == "before-start"


def test_settings_built_in_code_take_the_environment_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(kafka_bootstrap="k:9092")  # a test's, before its fakes' variables
    monkeypatch.setenv("DUBAN_ACK_SECRET", "set-after-building")
    assert settings.ack_secret == SecretStr("set-after-building")


def test_settings_are_frozen_and_copied_with_changes() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.batch_max = 5  # type: ignore[misc]
    assert settings.model_copy(update={"batch_max": 5}).batch_max == 5
    assert settings.batch_max == 2000


def test_a_runs_own_topics_are_given_whole() -> None:
    topics = Topics(**{name: f"{name}.run-1" for name in Topics.__dataclass_fields__})
    settings = Settings(topics=topics, engine_group="engine-run-1")
    assert settings.topics == topics
    assert settings.topic_dlq_notices == "dlq_notices.run-1"


def test_an_unknown_setting_in_code_is_refused() -> None:
    with pytest.raises(ValidationError, match="batch_maximum"):
        Settings(batch_maximum=5)  # type: ignore[call-arg]


def test_variables_read_as_text_and_show_no_value() -> None:
    variables = Variables({"DUBAN_SMTP_PASSWORD": "smtp-password-value", "EMPTY": ""})
    assert dict(variables) == {"DUBAN_SMTP_PASSWORD": "smtp-password-value", "EMPTY": ""}
    assert variables.secret("EMPTY") is None and variables.secret("UNSET") is None
    assert "smtp-password-value" not in repr(variables)
