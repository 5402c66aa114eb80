"""A real SMTP server (aiosmtpd) on 127.0.0.1, in the test's own event loop.

``security``:

* ``"none"``: plain SMTP; AUTH allowed without TLS (so plain + auth can be tested);
* ``"starttls"``: advertises STARTTLS and refuses everything but EHLO/STARTTLS/QUIT
  before it (``require_starttls``); AUTH only after TLS;
* ``"tls"``: implicit TLS on connect (SMTPS).

With ``users`` the server requires AUTH (PLAIN / LOGIN) before MAIL.  Each accepted
message is a :class:`ReceivedMail` in ``messages`` (raw bytes as received, envelope,
whether the session was encrypted, the authenticated user, which connection carried
it); ``connections`` counts the connections clients opened and ``hang_up`` closes them
from the server's side (an idle timeout).  ``fail_next`` answers
the next MAIL / RCPT / DATA with a given SMTP reply; ``delay_next`` holds the reply
to a stage (until ``seconds`` elapse or the server stops) for timeout tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ._base import Serving
from .tls import CertFiles, server_context

Stage = Literal["mail", "rcpt", "data"]


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    auth_user: str | None
    connection: int
    """Which connection carried it: 0 for the server's first, 1 for the next, ..."""

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Plan:
    failures: dict[str, deque[str]] = field(
        default_factory=lambda: {"mail": deque(), "rcpt": deque(), "data": deque()}
    )
    delays: dict[str, deque[float]] = field(
        default_factory=lambda: {"mail": deque(), "rcpt": deque(), "data": deque()}
    )


def _is_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _Handler:
    def __init__(self, owner: FakeSmtpServer) -> None:
        self.owner = owner

    async def _gate(self, stage: Stage) -> str | None:
        plan = self.owner.plan
        if plan.delays[stage]:
            seconds = plan.delays[stage].popleft()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.owner.release.wait(), seconds)
        if plan.failures[stage]:
            return plan.failures[stage].popleft()
        return None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (reply := await self._gate("mail")) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (reply := await self._gate("rcpt")) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if (reply := await self._gate("data")) is not None:
            return reply
        content = envelope.original_content or b""
        user = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.owner.messages.append(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=content,
                tls=_is_tls(server),
                auth_user=user,
                connection=self.owner.connection_index(server),
            )
        )
        return f"250 2.0.0 Ok: queued as FAKE{len(self.owner.messages):04d}"


class FakeSmtpServer(Serving):
    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        users: Mapping[str, str] | None = None,
        cert: CertFiles | None = None,
        hostname: str = "fake-smtp.test",
    ) -> None:
        if security != "none" and cert is None:
            raise ValueError("TLS modes need a certificate")
        self.security = security
        self.users = dict(users or {})
        self.cert = cert
        self.hostname = hostname
        self.messages: list[ReceivedMail] = []
        self.auth_failures = 0
        self.plan = _Plan()
        self.release = asyncio.Event()
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []

    @property
    def connections(self) -> int:
        """How many connections clients opened so far."""
        return len(self._protocols)

    def connection_index(self, server: SMTP) -> int:
        return next(i for i, p in enumerate(self._protocols) if p is server)

    def hang_up(self) -> None:
        """Close every open connection from the server's side (an idle timeout)."""
        for smtp in self._protocols:
            if smtp.transport is not None:
                smtp.transport.close()

    def fail_next(
        self, n: int = 1, *, stage: Stage = "data", reply: str = "451 4.3.0 Try again later"
    ) -> None:
        self.plan.failures[stage].extend([reply] * n)

    def delay_next(self, n: int = 1, *, stage: Stage = "data", seconds: float = 30.0) -> None:
        self.plan.delays[stage].extend([seconds] * n)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if user in self.users and self.users[user] == password:
                return AuthResult(success=True, auth_data=auth_data.login)
        self.auth_failures += 1
        return AuthResult(success=False, handled=False)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        starttls_ctx = (
            server_context(self.cert) if self.cert and self.security == "starttls" else None
        )
        implicit_ctx = server_context(self.cert) if self.cert and self.security == "tls" else None

        def factory() -> SMTP:
            with warnings.catch_warnings():
                # AUTH without TLS is deliberate in the plain / implicit-TLS fakes
                warnings.simplefilter("ignore", UserWarning)
                smtp = self._protocol(handler, starttls_ctx, loop)
            self._protocols.append(smtp)
            return smtp

        self._server = await loop.create_server(factory, self.host, 0, ssl=implicit_ctx)
        self.port = self._server.sockets[0].getsockname()[1]

    def _protocol(
        self,
        handler: _Handler,
        starttls_ctx: ssl.SSLContext | None,
        loop: asyncio.AbstractEventLoop,
    ) -> SMTP:
        return SMTP(
            handler,
            hostname=self.hostname,
            tls_context=starttls_ctx,
            require_starttls=self.security == "starttls",
            authenticator=self._authenticate if self.users else None,
            auth_required=bool(self.users),
            auth_require_tls=self.security == "starttls",
            loop=loop,
        )

    async def stop(self) -> None:
        self.release.set()
        self.hang_up()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
