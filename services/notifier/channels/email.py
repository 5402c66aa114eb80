"""Email over SMTP (aiosmtplib).

* ``security``: ``none`` (plain, never upgrades), ``starttls`` (STARTTLS required;
  fails if the server does not offer it) or ``tls`` (implicit TLS, port 465).
* Optional AUTH (``username`` / ``password``), done after TLS.
* ``multipart/alternative`` with the text part and, when present, the HTML part;
  non-ASCII parts are base64; headers use RFC 2047 (``=?utf-8?b?...?=``), so the
  message is 7-bit clean and needs neither 8BITMIME nor SMTPUTF8.
* ``Message-ID`` is derived from the delivery key (``<duban.<key>@<domain>>``, the key
  percent-encoded to fit the Message-ID grammar), so a repeated attempt is visibly the
  same message to the receiver; the key itself is also in ``X-Duban-Delivery``.
* Connections are reused: at most ``max_connections`` open at once, an idle one kept
  for ``idle_s`` and for at most ``messages_per_connection`` messages (servers limit
  both); a connection that failed in transport is closed, never reused.

Classification: SMTP 4xx replies and connection problems/timeouts are retryable;
5xx replies, refused authentication, certificate verification failures, a missing
STARTTLS and malformed addresses are permanent.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

import aiosmtplib

from services.masking import mask_email, redact

from .base import DeliveryError, Family, OutboundMessage, SendResult
from .mime import BadAddress, compose, header_value, mailbox
from .smtppool import SmtpPool
from .smtpsend import transaction

Security = Literal["none", "starttls", "tls"]
_DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}
_MSGID_KEY_MAX = 120
_ATEXT_SAFE = "!#$&'*+-/=?^_`{|}~"  # RFC 5322 atext minus "%" (our escape) and "."


@dataclass(frozen=True)
class EmailSettings:
    host: str
    from_addr: str
    port: int | None = None
    """Default: 25 (none), 587 (starttls), 465 (tls)."""
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_name: str | None = None
    """Display name of the sender, e.g. "安全督办平台"."""
    reply_to: str | None = None
    timeout_s: float = 15.0
    """For connecting, and for each message's transaction (MAIL, RCPT, DATA)."""
    validate_certs: bool = True
    ca_file: str | None = None
    """PEM bundle to trust instead of the system store (private CA / self-signed)."""
    local_hostname: str | None = None
    """Name sent in EHLO; default: the local FQDN."""
    message_id_domain: str | None = None
    """Right-hand side of Message-ID; default: the domain of ``from_addr``."""
    max_connections: int = 8
    """SMTP connections open at once (servers limit connections per client)."""
    messages_per_connection: int = 100
    idle_s: float = 30.0
    """How long an unused connection is kept open."""


def message_id_for(delivery_key: str, domain: str) -> str:
    """A deterministic, RFC 5322-valid Message-ID for a delivery key."""
    left = quote(delivery_key, safe=_ATEXT_SAFE).replace(".", "%2E")
    if not left or len(left) > _MSGID_KEY_MAX:
        left = "h." + hashlib.sha256(delivery_key.encode("utf-8")).hexdigest()[:40]
    return f"<duban.{left}@{domain}>"


def message_id_domain(settings: EmailSettings) -> str:
    """The right-hand side of our Message-IDs."""
    return settings.message_id_domain or settings.from_addr.rpartition("@")[2] or "duban"


def build_email(
    message: OutboundMessage, settings: EmailSettings, message_id: str, *, now: float
) -> bytes:
    """The message's bytes (raises BadAddress on a malformed or non-ASCII address)."""
    assert message.to_email is not None
    headers = [
        ("From", mailbox(settings.from_addr, settings.from_name)),
        ("To", mailbox(message.to_email)),
        ("Subject", header_value("Subject", message.subject)),
        ("Message-ID", message_id),
        ("X-Duban-Delivery", header_value("X-Duban-Delivery", message.delivery_key)),
    ]
    if settings.reply_to:
        headers.insert(2, ("Reply-To", mailbox(settings.reply_to)))
    return compose(headers, message.text, message.html, now=now)


def _tls_context(settings: EmailSettings) -> ssl.SSLContext | None:
    if settings.security == "none":
        return None
    ctx = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class EmailChannel:
    family: Family = "email"

    def __init__(
        self,
        settings: EmailSettings,
        *,
        name: str = "email",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.security not in _DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security mode {settings.security!r}")
        self.name = name
        self.settings = settings
        self._clock = clock
        self._tls = _tls_context(settings)
        self._message_id_domain = message_id_domain(settings)
        self.pool = SmtpPool(
            self._smtp,
            size=settings.max_connections,
            uses=settings.messages_per_connection,
            idle_s=settings.idle_s,
        )

    def _smtp(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port or _DEFAULT_PORTS[s.security],
            username=s.username,
            password=s.password,
            local_hostname=s.local_hostname,
            timeout=s.timeout_s,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=self._tls,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.to_email:
            raise DeliveryError("message has no email address", retryable=False, channel=self.name)
        message_id = message_id_for(message.delivery_key, self._message_id_domain)
        try:
            raw = build_email(message, self.settings, message_id, now=self._clock())
        except BadAddress as e:
            raise DeliveryError(
                f"cannot build email for {mask_email(message.to_email)} ({e})",
                retryable=False,
                channel=self.name,
            ) from e
        try:
            # One deadline for the wait for a pooled connection, opening it, and the whole
            # transaction (cheaper than one per command).
            async with asyncio.timeout(self.settings.timeout_s), self.pool.connection() as smtp:
                answer = await transaction(smtp, self.settings.from_addr, message.to_email, raw)
        except Exception as e:
            raise self._classify(e, message.to_email) from e
        return SendResult(provider_message_id=message_id, provider_answer=redact(answer, limit=200))

    async def aclose(self) -> None:
        """Close the pooled SMTP connections (a later send opens new ones)."""
        await self.pool.aclose()

    def _classify(self, e: Exception, to_email: str) -> DeliveryError:
        reason, retryable, code = _smtp_reply_failure(e, to_email) or _transport_failure(e)
        return DeliveryError(
            reason,
            retryable=retryable,
            provider_code=str(code) if code is not None else None,
            channel=self.name,
        )


_Failure = tuple[str, bool, int | None]
_REPLY_KINDS: dict[type[Exception], str] = {
    aiosmtplib.SMTPAuthenticationError: "authentication refused",
    aiosmtplib.SMTPSenderRefused: "sender refused",
    aiosmtplib.SMTPDataError: "message refused",
    aiosmtplib.SMTPHeloError: "EHLO refused",
}


def _smtp_reply_failure(e: Exception, to_email: str) -> _Failure | None:
    """Failures carrying an SMTP reply code: 4xx retryable, 5xx permanent."""
    if isinstance(e, aiosmtplib.SMTPRecipientRefused):
        reason = (
            f"recipient {mask_email(to_email)} refused: {e.code} {redact(e.message, limit=200)}"
        )
        return (reason, 400 <= e.code < 500, e.code)
    if isinstance(e, aiosmtplib.SMTPResponseException):
        kind = _REPLY_KINDS.get(type(e), "server refused")
        reason = f"{kind}: {e.code} {redact(e.message, limit=200)}"
        return (reason, 400 <= e.code < 500, e.code)
    return None


def _transport_failure(e: Exception) -> _Failure:
    if _cert_failure(e):
        return ("TLS certificate verification failed", False, None)
    if isinstance(e, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return (f"timed out ({type(e).__name__})", True, None)
    if isinstance(e, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return (f"connection failed: {redact(e.message, limit=200)}", True, None)
    if isinstance(e, aiosmtplib.SMTPException):
        # SMTPNotSupported, "SMTP STARTTLS extension not supported by server", "SMTP
        # AUTH extension not supported": configuration problems.
        return (f"SMTP error: {redact(e.message, limit=200)}", False, None)
    if isinstance(e, ssl.SSLError):
        return (f"TLS error ({type(e).__name__})", True, None)
    if isinstance(e, OSError):
        return (f"connection failed ({type(e).__name__})", True, None)
    if isinstance(e, ValueError):  # aiosmtplib refuses an unsafe address
        return (f"invalid address ({redact(str(e), limit=120)})", False, None)
    return (f"unexpected error ({type(e).__name__})", True, None)


def _cert_failure(e: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


__all__ = [
    "EmailChannel",
    "EmailSettings",
    "Security",
    "build_email",
    "message_id_for",
]
