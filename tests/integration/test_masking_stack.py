"""Nothing secret or personal leaves masked-free on the real stack: an SMTP server that
echoes the password and the recipient in its rejections; the notice.failed receipts and
the dead letters' reasons carry neither."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from contracts.topics import DLQ_HEADER_REASON
from services.masking import forget_secrets, register_secrets, secrets_from_env
from services.notifier.app import create_notifier
from services.runner import running
from services.settings import Settings
from tests.fakes import FakeClock
from tests.integration.conftest import read_topic
from tests.integration.deliverykit import FAST_RETRY, notice, notice_publisher, use
from tests.providers import FakeSmtpServer

USER, PASSWORD = "duban", "Sm7p+pa55/w0rd"


class EchoingSmtpServer(FakeSmtpServer):
    """Refuses AUTH, while ``refuse_auth``, with a reply quoting the password it got."""

    refuse_auth = True

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self.refuse_auth and isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            reply = f"535 5.7.8 authentication failed for user {login} password {password}"
            return AuthResult(success=False, handled=False, message=reply)
        return super()._authenticate(server, session, envelope, mechanism, auth_data)


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SMTP password in DUBAN_SMTP_PASSWORD, registered as `duban run` does."""
    use(monkeypatch, SMTP_TLS="none", SMTP_FROM="duban@test.example")
    use(monkeypatch, SMTP_HOST="127.0.0.1", SMTP_USER=USER, SMTP_PASSWORD=PASSWORD)
    register_secrets(secrets_from_env(os.environ))
    yield
    forget_secrets()


async def test_a_server_echoing_password_and_recipient_leaks_neither(
    settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, smtp_env: None
) -> None:
    async with EchoingSmtpServer(users={USER: PASSWORD}) as server:
        use(monkeypatch, SMTP_PORT=str(server.port))
        notifier = create_notifier(settings, clock=clock, retry=FAST_RETRY)
        async with running(notifier.app), notice_publisher(settings) as send:
            await send(notice(1, "email"))
            await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, 1)
            server.refuse_auth = False  # logs in now; the recipient is refused, echoed
            reply = "550 5.1.1 <r1-2@unit.example> (mobile 13900000002): mailbox unavailable"
            server.fail_next(stage="rcpt", reply=reply)
            await send(notice(2, "email"))
            dead = await read_topic(settings.kafka_bootstrap, settings.topics.dlq_notices, 2)
            receipts = await read_topic(
                settings.kafka_bootstrap, settings.topics.notice_receipts, 2
            )
    reasons = [dict(d.headers)[DLQ_HEADER_REASON].decode() for d in dead]
    published = [r.value.decode() for r in receipts] + reasons
    assert len(receipts) == len(dead) == 2 and server.messages == []
    for text in published:
        for raw in (PASSWORD, "13900000001", "13900000002", "r1-1@unit.example", "r1-2@"):
            assert raw not in text, text
    assert "authentication refused: 535 5.7.8 authentication failed for user duban " in (reasons[0])
    assert "password ******" in reasons[0] and "password ******" in published[0]
    assert "<r***@unit.example> (mobile 139****0002)" in reasons[1]
