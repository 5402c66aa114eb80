from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any

import pytest

from deploy.local.standins.tls import CertFiles
from services.notifier.channels.base import DeliveryError
from services.notifier.channels.email import EmailChannel, EmailSettings, Security, message_id_for
from tests.providers import FakeSmtpServer, sample_message
from tests.providers.fixtures import SMTP_USERS
from tests.unit.channels._support import send_expecting_error, until_connection_lost

USER, PASSWORD = next(iter(SMTP_USERS.items()))


def channel(
    server: FakeSmtpServer,
    *,
    security: Security = "none",
    auth: bool = False,
    password: str = PASSWORD,
    ca_file: str | None = None,
    validate_certs: bool = True,
    timeout_s: float = 5.0,
    **pool: Any,
) -> EmailChannel:
    return EmailChannel(
        EmailSettings(
            host=server.host,
            port=server.port,
            from_addr="duban@example.com",
            from_name="安全督办平台",
            security=security,
            username=USER if auth else None,
            password=password if auth else None,
            ca_file=ca_file,
            validate_certs=validate_certs,
            timeout_s=timeout_s,
            local_hostname="duban.test",
            **pool,
        )
    )


async def test_plain_multipart_chinese(fake_smtp: FakeSmtpServer) -> None:
    msg = sample_message()
    result = await channel(fake_smtp).send(msg)
    [mail] = fake_smtp.messages
    assert mail.mail_from == "duban@example.com" and mail.rcpt_tos == ["zhangsan@example.com"]
    assert not mail.tls and mail.auth_user is None
    assert max(mail.data) < 128, "message must be 7-bit clean"
    raw_headers = mail.data.split(b"\r\n\r\n", 1)[0]
    assert b"Subject: =?utf-8?" in raw_headers  # RFC 2047 encoded-word
    parsed = mail.message
    assert parsed["Subject"] == msg.subject
    assert parseaddr(str(parsed["From"])) == ("安全督办平台", "duban@example.com")
    assert parsed["To"] == "zhangsan@example.com"
    assert parsed["Message-ID"] == message_id_for(msg.delivery_key, "example.com")
    assert parsed["X-Duban-Delivery"] == msg.delivery_key
    assert parsed["Date"]
    assert parsed.get_content_type() == "multipart/alternative"
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    # text parts are in MIME canonical form: CRLF line ends
    assert text_part.get_content() == msg.text + "\r\n"
    assert html_part.get_content() == (msg.html or "") + "\r\n"
    assert result.provider_message_id == parsed["Message-ID"]
    assert result.provider_answer == "2.0.0 Ok: queued as FAKE0001"


async def test_text_only_and_stable_message_id(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp)
    first = await ch.send(sample_message(html=None))
    second = await ch.send(sample_message(html=None))
    assert first.provider_message_id == second.provider_message_id
    parsed = fake_smtp.messages[0].message
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == sample_message().text + "\r\n"


async def test_multiline_ascii_text(fake_smtp: FakeSmtpServer) -> None:
    await channel(fake_smtp).send(sample_message(text="line 1\nline 2", html=None))
    parsed = fake_smtp.messages[0].message
    assert parsed.get_content().splitlines() == ["line 1", "line 2"]


def test_message_id_shape() -> None:
    a = message_id_for("N1:2:P3:email", "example.com")
    assert a == "<duban.N1%3A2%3AP3%3Aemail@example.com>"
    assert message_id_for("N1.2", "x.cn") != message_id_for("N1%2E2", "x.cn")
    assert message_id_for("a..b", "x.cn") == "<duban.a%2E%2Eb@x.cn>"
    long = message_id_for("k" * 500, "x.cn")
    assert long.startswith("<duban.h.") and len(long) < 80


async def test_plain_with_auth(fake_smtp_auth: FakeSmtpServer) -> None:
    await channel(fake_smtp_auth, auth=True).send(sample_message())
    [mail] = fake_smtp_auth.messages
    assert mail.auth_user == USER


async def test_wrong_password_is_permanent(fake_smtp_auth: FakeSmtpServer) -> None:
    err = await send_expecting_error(channel(fake_smtp_auth, auth=True, password="wrong-pw"))
    assert not err.retryable and err.provider_code == "535"
    assert "wrong-pw" not in str(err) and "authentication refused" in err.reason
    assert fake_smtp_auth.auth_failures >= 1 and fake_smtp_auth.messages == []


async def test_missing_auth_is_permanent(fake_smtp_auth: FakeSmtpServer) -> None:
    err = await send_expecting_error(channel(fake_smtp_auth))
    assert not err.retryable and err.provider_code == "530"


async def test_temporary_data_failure_is_retryable(fake_smtp: FakeSmtpServer) -> None:
    fake_smtp.fail_next(stage="data", reply="451 4.3.0 Mail server temporarily rejected message")
    err = await send_expecting_error(channel(fake_smtp))
    assert err.retryable and err.provider_code == "451"


async def test_greylisted_recipient_is_retryable(fake_smtp: FakeSmtpServer) -> None:
    fake_smtp.fail_next(stage="rcpt", reply="450 4.2.0 <zhangsan@example.com>: Greylisted")
    err = await send_expecting_error(channel(fake_smtp))
    assert err.retryable and err.provider_code == "450"


async def test_unknown_recipient_is_permanent_and_masked(fake_smtp: FakeSmtpServer) -> None:
    fake_smtp.fail_next(
        stage="rcpt", reply="550 5.1.1 <zhangsan@example.com>: Recipient address rejected"
    )
    err = await send_expecting_error(channel(fake_smtp))
    assert not err.retryable and err.provider_code == "550"
    assert "zhangsan@" not in str(err) and "z***@example.com" in str(err)


async def test_sender_refused_is_permanent(fake_smtp: FakeSmtpServer) -> None:
    fake_smtp.fail_next(stage="mail", reply="553 5.7.1 Sender address rejected")
    err = await send_expecting_error(channel(fake_smtp))
    assert not err.retryable and err.provider_code == "553" and "sender refused" in err.reason


async def test_timeout_is_retryable(fake_smtp: FakeSmtpServer) -> None:
    fake_smtp.delay_next(stage="data", seconds=30)
    err = await send_expecting_error(channel(fake_smtp, timeout_s=0.3))
    assert err.retryable and "timed out" in err.reason


async def test_connection_refused_is_retryable(closed_port: int) -> None:
    ch = EmailChannel(
        EmailSettings(
            host="127.0.0.1", port=closed_port, from_addr="d@example.com", security="none"
        )
    )
    err = await send_expecting_error(ch)
    assert err.retryable and "connection failed" in err.reason


@pytest.mark.parametrize("bad", ["not an address", "a@b@c", "张三 <>"])
async def test_invalid_address_is_permanent(fake_smtp: FakeSmtpServer, bad: str) -> None:
    err = await send_expecting_error(channel(fake_smtp), to_email=bad)
    assert not err.retryable and fake_smtp.messages == []


async def test_no_address_is_permanent(fake_smtp: FakeSmtpServer) -> None:
    err = await send_expecting_error(channel(fake_smtp), to_email=None)
    assert not err.retryable


async def test_starttls_with_auth(fake_smtp_starttls: FakeSmtpServer, smtp_cert: CertFiles) -> None:
    ch = channel(fake_smtp_starttls, security="starttls", auth=True, ca_file=str(smtp_cert.cert))
    await ch.send(sample_message())
    [mail] = fake_smtp_starttls.messages
    assert mail.tls and mail.auth_user == USER
    assert mail.message["Subject"] == sample_message().subject


async def test_starttls_untrusted_certificate_is_permanent(
    fake_smtp_starttls: FakeSmtpServer,
) -> None:
    err = await send_expecting_error(channel(fake_smtp_starttls, security="starttls", auth=True))
    assert not err.retryable and "certificate" in err.reason


async def test_plain_against_starttls_only_server_is_permanent(
    fake_smtp_starttls: FakeSmtpServer,
) -> None:
    err = await send_expecting_error(channel(fake_smtp_starttls, security="none"))
    assert not err.retryable and err.provider_code == "530"


async def test_starttls_required_but_not_offered_is_permanent(fake_smtp: FakeSmtpServer) -> None:
    err = await send_expecting_error(channel(fake_smtp, security="starttls", validate_certs=False))
    assert not err.retryable and "STARTTLS" in err.reason


async def test_implicit_tls_with_auth(fake_smtp_tls: FakeSmtpServer, smtp_cert: CertFiles) -> None:
    ch = channel(fake_smtp_tls, security="tls", auth=True, ca_file=str(smtp_cert.cert))
    await ch.send(sample_message())
    ch_unverified = channel(fake_smtp_tls, security="tls", auth=True, validate_certs=False)
    await ch_unverified.send(sample_message())
    assert [m.tls for m in fake_smtp_tls.messages] == [True, True]
    assert all(m.auth_user == USER for m in fake_smtp_tls.messages)


async def test_implicit_tls_untrusted_certificate_is_permanent(
    fake_smtp_tls: FakeSmtpServer,
) -> None:
    err = await send_expecting_error(channel(fake_smtp_tls, security="tls", auth=True))
    assert not err.retryable and "certificate" in err.reason


async def test_implicit_tls_against_plain_server_is_retryable_tls_error(
    fake_smtp: FakeSmtpServer,
) -> None:
    err = await send_expecting_error(channel(fake_smtp, security="tls", validate_certs=False))
    assert err.retryable


def test_from_display_name_is_encoded() -> None:
    assert str(Address(display_name="安全督办平台", addr_spec="duban@example.com"))


async def test_connections_are_reused(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp)
    for n in range(5):
        await ch.send(sample_message(delivery_key=f"N{n}:1:P1:email"))
    await ch.aclose()
    assert [m.connection for m in fake_smtp.messages] == [0] * 5
    assert fake_smtp.connections == 1


async def test_a_connection_carries_at_most_messages_per_connection(
    fake_smtp: FakeSmtpServer,
) -> None:
    ch = channel(fake_smtp, messages_per_connection=2)
    for n in range(5):
        await ch.send(sample_message(delivery_key=f"N{n}:1:P1:email"))
    await ch.aclose()
    assert [m.connection for m in fake_smtp.messages] == [0, 0, 1, 1, 2]


async def test_concurrent_sends_open_at_most_max_connections(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp, max_connections=3)
    await asyncio.gather(
        *(ch.send(sample_message(delivery_key=f"N{n}:1:P1:email")) for n in range(12))
    )
    await ch.aclose()
    assert len(fake_smtp.messages) == 12 and fake_smtp.connections == 3


async def test_a_refused_recipient_leaves_the_connection_usable(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp)
    fake_smtp.fail_next(stage="rcpt", reply="550 5.1.1 No such user")
    err = await send_expecting_error_keep_open(ch)
    assert not err.retryable
    await ch.send(sample_message())
    await ch.aclose()
    assert fake_smtp.connections == 1 and len(fake_smtp.messages) == 1


async def test_a_connection_the_server_closed_is_not_reused(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp)
    await ch.send(sample_message(delivery_key="N1:1:P1:email"))
    [idle] = ch.pool.idle_clients
    fake_smtp.hang_up()  # the server's idle timeout
    await until_connection_lost(idle.protocol, not idle.is_connected)  # seen by the client
    await ch.send(sample_message(delivery_key="N2:1:P1:email"))
    await ch.aclose()
    assert [m.connection for m in fake_smtp.messages] == [0, 1]


async def test_an_idle_connection_is_closed_after_idle_s(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp, idle_s=0.0)
    await ch.send(sample_message(delivery_key="N1:1:P1:email"))
    await ch.send(sample_message(delivery_key="N2:1:P1:email"))
    await ch.aclose()
    assert [m.connection for m in fake_smtp.messages] == [0, 1]


async def test_a_timed_out_connection_is_dropped(fake_smtp: FakeSmtpServer) -> None:
    ch = channel(fake_smtp, timeout_s=0.3)
    fake_smtp.delay_next(stage="data", seconds=5)
    err = await send_expecting_error_keep_open(ch)
    assert err.retryable
    await ch.send(sample_message(delivery_key="N2:1:P1:email"))
    await ch.aclose()
    assert [m.connection for m in fake_smtp.messages] == [1]


async def send_expecting_error_keep_open(ch: EmailChannel) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        await ch.send(sample_message())
    return info.value


async def test_the_deadline_covers_waiting_for_a_pooled_connection(
    fake_smtp: FakeSmtpServer,
) -> None:
    ch = channel(fake_smtp, timeout_s=0.3, max_connections=1)
    async with asyncio.timeout(5):  # fails the test (not the send) if the wait has no deadline
        async with ch.pool.connection():  # the only connection is busy
            err = await send_expecting_error_keep_open(ch)
    assert err.retryable and "timed out" in err.reason
    await ch.send(sample_message(delivery_key="N2:1:P1:email"))  # the slot is free again
    await ch.aclose()
    assert len(fake_smtp.messages) == 1
