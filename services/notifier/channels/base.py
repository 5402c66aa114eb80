"""The contract between the notifier and its channel adapters.

An adapter receives an already rendered :class:`OutboundMessage`, hands it to one
provider, and either returns a :class:`SendResult` or raises :class:`DeliveryError`
telling the caller whether trying again later can help.  Adapters never swallow a
failure, never render templates and never read the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from .mentions import Mention

Family = Literal["email", "chat", "sms", "webhook"]


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered message for one person on one channel."""

    delivery_key: str
    """``notice_id:occurrence:person_id:channel``; used as idempotency / request id
    wherever the provider supports one."""
    subject: str
    """Email subject / chat title."""
    text: str
    """Plain-text body."""
    html: str | None
    """HTML part of an email."""
    markdown: str | None
    """Markdown body for chat robots."""
    sms_params: dict[str, str]
    """SMS template parameters, ordered as configured."""
    sms_template: str | None
    """Provider template id (Aliyun TemplateCode / Tencent TemplateId / gateway name)."""
    to_email: str | None
    to_mobile: str | None
    """Mainland mobile number, e.g. ``"13800138000"`` (``+86`` prefix tolerated)."""
    at_mobiles: tuple[str, ...] = ()
    """Chat robots: whom to @ by mobile."""
    payload: Mapping[str, object] | None = None
    """Generic webhook only: the JSON object to POST.  ``None`` → a small default
    object built from the rendered fields."""
    to_wecom_userid: str | None = None
    to_dingtalk_userid: str | None = None
    to_feishu_open_id: str | None = None
    """Personal work-chat apps: the recipient's id on each platform."""
    ack_url: str | None = None
    """The notice's acknowledgement page, for a card's button; ``None``: no link."""
    mentions: tuple[Mention, ...] = ()
    """Group robots: everyone the post @-mentions (see :mod:`.mentions`)."""


class DeliveryError(Exception):
    """A send failed.  ``retryable`` says whether a later attempt may succeed.

    ``reached_provider``: ``False`` when the request never reached the provider
    (connection refused or reset while connecting, DNS failure, connect timeout), so
    nothing was sent and the send-rate slot taken for it is given back; ``True`` when it
    may have; ``None`` when the adapter does not say (see :func:`never_reached_provider`).

    ``reason`` never contains secrets, full mobile numbers or full email addresses.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        provider_code: str | None = None,
        retry_after_s: float | None = None,
        channel: str | None = None,
        reached_provider: bool | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.provider_code = provider_code
        self.retry_after_s = retry_after_s
        self.channel = channel
        self.reached_provider = reached_provider

    def __str__(self) -> str:
        parts = []
        if self.channel:
            parts.append(f"[{self.channel}]")
        parts.append(self.reason)
        if self.provider_code is not None:
            parts.append(f"(code {self.provider_code})")
        parts.append("retryable" if self.retryable else "permanent")
        if self.retry_after_s is not None:
            parts.append(f"retry after {self.retry_after_s:g}s")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.reason!r}, retryable={self.retryable!r}, "
            f"provider_code={self.provider_code!r}, retry_after_s={self.retry_after_s!r}, "
            f"channel={self.channel!r}, reached_provider={self.reached_provider!r})"
        )


def never_reached_provider(error: DeliveryError) -> bool:
    """Whether a failed send never reached the provider, so nothing was sent: what the
    adapter said, else what the exception it chained (``raise ... from e``) shows."""
    if error.reached_provider is not None:
        return not error.reached_provider
    return _failed_connecting(error.__cause__)


def may_have_been_accepted(error: DeliveryError) -> bool:
    """Whether the provider may hold the message although the send failed: the request
    may have been written and no answer came (a timeout, a connection lost midway). An
    answer that refused (an HTTP status, an SMTP reply, a provider's code) says it did not."""
    if error.provider_code is not None or never_reached_provider(error):
        return False
    # Imported here: importing the channels package stays cheap (adapters load on use).
    import aiohttp
    import aiosmtplib

    unanswered = (
        TimeoutError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientOSError,
        aiosmtplib.SMTPServerDisconnected,
        aiosmtplib.SMTPTimeoutError,
    )
    return isinstance(error.__cause__, unanswered)


def _failed_connecting(cause: BaseException | None) -> bool:
    # Imported here: importing the channels package stays cheap (adapters load on use).
    import aiohttp
    import aiosmtplib

    connect_errors = (
        aiosmtplib.SMTPConnectError,  # refused, DNS, timeout or no greeting: no MAIL yet
        aiohttp.ClientConnectorError,  # refused, DNS, TLS handshake, proxy unreachable
        aiohttp.ConnectionTimeoutError,
    )
    if isinstance(cause, connect_errors):
        return True
    # A bare OSError (refused, DNS, TLS) is read as a failed connect; a timeout and the
    # libraries' own errors after connecting may come after the request was written.
    later = (TimeoutError, aiohttp.ClientError, aiosmtplib.SMTPException)
    return isinstance(cause, OSError) and not isinstance(cause, later)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None
    """The provider's id for the accepted message, when it gives one."""
    provider_answer: str
    """Short human-readable answer, shown by ``duban notify test``."""


#: Chat adapters that send plain text, not markdown, when a message @-mentions someone
#: set ``text_for_mentions = True`` (WeCom: its markdown cannot @ by mobile).
TEXT_FOR_MENTIONS = "text_for_mentions"
#: Such an adapter may also tell, before rendering, when its markdown would go unused:
#: a method ``sends_text(mentioning) -> bool`` of whom a message @-mentions
#: (``mentions`` and ``at_mobiles``); for those messages no markdown is rendered.
SENDS_TEXT = "sends_text"


@runtime_checkable
class Channel(Protocol):
    name: str
    family: Family

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def aclose(self) -> None: ...
