"""Dead letters: masked summaries, choosing records, where a replay may go; receipts' and
dead letters' reasons masked when published (no Kafka here)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtplib import SMTPAuthenticationError
from typer.testing import CliRunner

from contracts.notice import ChannelPlan, NoticeRequested, Recipient
from contracts.registry import make_event, parse_event
from contracts.topics import DLQ_HEADER_REASON, DLQ_HEADER_TOPIC, Topics
from services.cli import app
from services.deadletters import (
    DeadLetter,
    DeadLetterError,
    parse_position,
    plan_replay,
    select,
    summary,
)
from services.masking import forget_secrets, register_secrets
from services.notifier.channels import DeliveryError
from services.notifier.channels.email import EmailChannel, EmailSettings
from services.notifier.outcomes import KafkaOutcomes
from tests.fakes import FakeClock
from tests.helpers import at, reported

TOPICS = Topics()
NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def notice_bytes() -> bytes:
    notice = NoticeRequested(
        notice_id="H1:major-report:report",
        occurrence=0,
        kind="report",
        subject="H1",
        due_at=NOW,
        recipient=Recipient(
            person_id="R1", role="principal", mobile="13912345678", email="wang@unit.example"
        ),
        channels=(ChannelPlan(channel="aliyun_sms"), ChannelPlan(channel="email")),
    )
    return make_event(
        "notice.requested", "urn:duban:notifier", notice.notice_id, notice, time=NOW
    ).to_json()


def letter(value: bytes, offset: int = 0, partition: int = 0, **headers: str) -> DeadLetter:
    return DeadLetter("duban.dlq.notices", partition, offset, 1_788_000_000_000, value, headers)


def test_a_dead_notice_is_summarised_without_its_addresses() -> None:
    dead = letter(
        notice_bytes(), **{DLQ_HEADER_REASON: "email: recipient wang@unit.example refused"}
    )
    text = summary(dead)
    assert text == ("notice H1:major-report:report#0 report to R1 (principal) via aliyun_sms,email")
    assert "13912345678" not in dead.reason and "wang@" not in dead.reason
    assert "w***@unit.example" in dead.reason


def test_an_invalid_inbound_event_is_summarised_masked() -> None:
    event = reported("H9", at("2026-09-01 09:00"), None, level="catastrophic")
    event["data"]["note"] = "call 13912345678"
    value = json.dumps(event, ensure_ascii=False).encode()
    text = summary(letter(value, **{DLQ_HEADER_TOPIC: "hazard.events"}))
    assert text.startswith("invalid event from hazard.events: type=hazard.reported subject=H9")
    assert "1391234" not in text
    garbage = summary(letter(b"\xff{not json 13912345678"))
    assert garbage.startswith("not JSON (22 bytes)") and "139****5678" in garbage


def test_positions_name_a_partition_and_an_offset() -> None:
    assert parse_position("3:17") == (3, 17)
    assert parse_position("17") == (None, 17)
    with pytest.raises(DeadLetterError, match="PARTITION:OFFSET"):
        parse_position("3:x")


def test_select_finds_one_letter_or_explains_why_not() -> None:
    letters = [letter(b"a", 0, 0), letter(b"b", 1, 0), letter(b"c", 1, 4)]
    assert select(letters, None) == letters
    assert select(letters, "4:1") == [letters[2]]
    assert select(letters, "0") == [letters[0]]
    with pytest.raises(DeadLetterError, match=r"several partitions \(0:1, 4:1\)"):
        select(letters, "1")
    with pytest.raises(DeadLetterError, match="no dead letter at 2:9"):
        select(letters, "2:9")


def test_a_dead_notice_goes_back_to_notice_requested_keyed_by_notice() -> None:
    replay = plan_replay(letter(notice_bytes()), "notices", TOPICS)
    assert (replay.topic, replay.key) == ("notice.requested", b"H1:major-report:report")


def test_a_dead_event_goes_back_to_its_original_topic_only_if_now_valid() -> None:
    valid = json.dumps(reported("H2", at("2026-09-01 09:00"), None)).encode()
    replay = plan_replay(letter(valid, **{DLQ_HEADER_TOPIC: "hazard.events.x"}), "events", TOPICS)
    assert (replay.topic, replay.key) == ("hazard.events.x", b"H2")
    with pytest.raises(DeadLetterError, match="no duban-original-topic header"):
        plan_replay(letter(valid), "events", TOPICS)
    invalid = json.dumps(reported("H3", at("2026-09-01 09:00"), None, level="x")).encode()
    with pytest.raises(DeadLetterError, match=r"still invalid .*data\.level.*publisher must"):
        plan_replay(letter(invalid, **{DLQ_HEADER_TOPIC: "hazard.events"}), "events", TOPICS)


def test_an_unreadable_notice_cannot_be_replayed() -> None:
    with pytest.raises(DeadLetterError, match="still invalid"):
        plan_replay(letter(b"{}"), "notices", TOPICS)


@pytest.mark.parametrize("args", [[], ["--all", "--offset", "0:1"]])
def test_replay_needs_exactly_one_of_offset_or_all(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["dlq", "replay", "--topic", "notices", *args])
    assert result.exit_code == 2 and "exactly one of --offset or --all" in result.output


SMTP_PASSWORD = "Sm7p-Passw0rd"


class RecordingPublisher:
    """Stands in for a FastStream publisher: what was published to its topic."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.published: list[tuple[str, bytes, dict[str, Any]]] = []

    async def publish(self, body: bytes, topic: str = "", **options: Any) -> None:
        self.published.append((topic or self.topic, body, options))


def kafka_outcomes(receipts: RecordingPublisher, dead_letters: RecordingPublisher) -> KafkaOutcomes:
    return KafkaOutcomes(receipts, dead_letters, None, FakeClock(NOW))  # type: ignore[arg-type]


@pytest.fixture
def smtp_password() -> Iterator[str]:
    register_secrets([SMTP_PASSWORD])  # as `duban run` does from DUBAN_SMTP_PASSWORD
    yield SMTP_PASSWORD
    forget_secrets()


def a_notice() -> NoticeRequested:
    return parse_event(notice_bytes()).data  # type: ignore[return-value]


def smtp_rejection(password: str) -> DeliveryError:
    """What the email channel makes of a server's AUTH reply that echoes the password."""
    reply = f"5.7.8 auth failed for user duban password {password}"
    email = EmailChannel(EmailSettings(host="127.0.0.1", from_addr="duban@example.com"))
    return email._classify(SMTPAuthenticationError(535, reply), "wang@unit.example")


def unmasked_rejection(password: str) -> DeliveryError:
    """A channel that forgot to redact its provider's answer."""
    reason = f"authentication refused: 535 5.7.8 auth failed for user duban password {password}"
    return DeliveryError(reason, retryable=False, provider_code="535", channel="email")


@pytest.mark.parametrize("rejection", [smtp_rejection, unmasked_rejection])
async def test_a_failed_receipt_never_carries_the_password_a_server_echoed(
    smtp_password: str, rejection: Callable[[str], DeliveryError]
) -> None:
    receipts = RecordingPublisher(TOPICS.notice_receipts)
    outcomes = kafka_outcomes(receipts, RecordingPublisher(TOPICS.dlq_notices))
    await outcomes.failed(a_notice(), "email", 1, rejection(smtp_password), final=True)
    [(topic, value, _)] = receipts.published
    reason = json.loads(value)["data"]["reason"]
    assert topic == TOPICS.notice_receipts and smtp_password not in value.decode()
    assert reason == (
        "[email] authentication refused: 535 5.7.8 auth failed for user duban password "
        "****** (code 535) permanent"
    )


async def test_a_dead_letters_reason_is_masked() -> None:
    dead_letters = RecordingPublisher(TOPICS.dlq_notices)
    reason = "template: title '联系 13912345678 wang@unit.example' breaks the subject"
    await kafka_outcomes(RecordingPublisher(TOPICS.notice_receipts), dead_letters).dead_letter(
        a_notice(), reason
    )
    [(topic, _, options)] = dead_letters.published
    headers = options["headers"]
    assert topic == TOPICS.dlq_notices
    assert headers[DLQ_HEADER_REASON] == (
        "template: title '联系 139****5678 w***@unit.example' breaks the subject"
    )
