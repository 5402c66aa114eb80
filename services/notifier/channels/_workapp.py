"""What the personal work-chat app channels share (WeCom app, DingTalk work notice, Feishu).

Each sends one message to one person, by the person's id on the platform, with the app's
access token (:mod:`.apptoken`). A send whose token the platform calls expired or
invalid is sent once more with a new token. Each adapter says how to fetch a token, build
the body, spot a token refusal and judge the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Unpack

from ._answers import (
    http_status_error,
    json_object,
    provider_error,
    unexpected_answer,
    utf8_truncate,
)
from ._http import HttpAnswer, HttpChannel, HttpOptions, SettingsT
from .apptoken import AccessTokens, Issued, MemoryTokenStore, TokenStore
from .base import DeliveryError, Family, OutboundMessage, SendResult

ACK_BUTTON = "查看并确认"
"""The text of a card's button to the acknowledgement page."""
TOKEN_LOCK_MARGIN_S = 5.0
DEFAULT_TTL_S = 7200.0
"""A token's life when the platform's answer does not say (all three say 7200 s)."""
_INDENT = re.compile(r"^[\s\u3000]+", re.MULTILINE)


class WorkAppChannel(HttpChannel[SettingsT]):
    """One work-chat app; subclasses implement the hooks below."""

    family: Family = "chat"
    wants_text = True
    """The notifier renders the plain text too (card summaries are made from it)."""
    recipient_field: ClassVar[str]
    """The ``OutboundMessage`` field with the recipient's id on this platform."""
    provider: ClassVar[str]
    """The platform's name in error messages."""

    def __init__(
        self,
        settings: SettingsT,
        *,
        tokens: TokenStore | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(settings, **options)
        self.tokens = AccessTokens(
            tokens if tokens is not None else MemoryTokenStore(),
            self.app(),
            self.fetch_token,
            channel=self.name,
            clock=self._clock,
            lock_ttl_s=settings.timeout_s + TOKEN_LOCK_MARGIN_S,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        to = self.recipient(message)
        body = self.build_body(message, to)
        token = await self.tokens.current()
        answer = await self.post(token, body)
        if self.token_refused(answer):
            token = await self.tokens.renewed(token)
            answer = await self.post(token, body)
            if self.token_refused(answer):
                code, _ = self.code_of(answer)
                raise DeliveryError(
                    f"{self.provider} refused a newly fetched access token",
                    retryable=True,
                    provider_code=str(code),
                    channel=self.name,
                )
        return self.judge(answer, to)

    def recipient(self, message: OutboundMessage) -> str:
        """The recipient's id on this platform; a permanent error for one without."""
        to: str | None = getattr(message, self.recipient_field)
        if not to or not to.strip():
            raise DeliveryError(
                f"the recipient has no {self.recipient_field.removeprefix('to_')}",
                retryable=False,
                channel=self.name,
            )
        return to.strip()

    # -- the adapter's hooks ----------------------------------------------------------

    def app(self) -> str:
        """The app's name in the token store (:func:`.apptoken.app_id`)."""
        raise NotImplementedError

    async def fetch_token(self) -> Issued:
        """Ask the platform for a new access token."""
        raise NotImplementedError

    def build_body(self, message: OutboundMessage, to: str) -> dict[str, Any]:
        raise NotImplementedError

    async def post(self, token: str, body: dict[str, Any]) -> HttpAnswer:
        """Send ``body`` with ``token``; the answer as it came."""
        raise NotImplementedError

    def code_of(self, answer: HttpAnswer) -> tuple[object, str]:
        """The platform's code and message in an answer (``None`` when it has none)."""
        raise NotImplementedError

    def token_refused(self, answer: HttpAnswer) -> bool:
        """Whether the platform said the token is expired or invalid."""
        raise NotImplementedError

    def judge(self, answer: HttpAnswer, to: str) -> SendResult:
        """The result of an accepted send; raise :class:`DeliveryError` otherwise."""
        raise NotImplementedError


def errcode_of(answer: HttpAnswer) -> tuple[object, str]:
    """``errcode`` and ``errmsg`` of a WeCom / DingTalk answer (``None`` if absent)."""
    data = json_object(answer)
    if data is None or "errcode" not in data:
        return None, ""
    return data.get("errcode"), str(data.get("errmsg", ""))


def errcode_token(
    answer: HttpAnswer, channel: str, retry_after_s: Mapping[int, float | None]
) -> Issued:
    """The token in a WeCom / DingTalk ``gettoken`` answer (``access_token``, ``expires_in``);
    else the refusal: retryable for the codes in ``retry_after_s``, permanent otherwise
    (wrong corp id, key or secret)."""
    code, errmsg = errcode_of(answer)
    data = json_object(answer)
    if answer.status_code != 200:
        raise http_status_error(answer, channel=channel, what="access token request")
    if data is None or code is None:
        raise unexpected_answer(answer, channel=channel)
    token = data.get("access_token")
    if code == 0 and isinstance(token, str) and token:
        lasts = data.get("expires_in")
        return Issued(token, float(lasts) if isinstance(lasts, int | float) else DEFAULT_TTL_S)
    known = isinstance(code, int) and code in retry_after_s
    raise provider_error(
        "access token refused: errcode",
        code,
        errmsg,
        retryable=known,
        retry_after_s=retry_after_s[code] if known and isinstance(code, int) else None,
        channel=channel,
    )


def summary(message: OutboundMessage, max_bytes: int) -> str:
    """A card's short text: the plain text without its first line (the heading, which
    the card's title shows), indents removed, cut to ``max_bytes`` of UTF-8."""
    text = message.text or message.markdown or ""
    lines = text.strip().split("\n")
    body = "\n".join(lines[1:]).strip() if len(lines) > 1 else text.strip()
    body = _INDENT.sub("", body)
    body = re.sub(r"\n{2,}", "\n", body)
    return utf8_truncate(body or message.subject or "通知", max_bytes)


def title_of(message: OutboundMessage, max_bytes: int) -> str:
    """A card's title: the subject, cut to ``max_bytes``."""
    return utf8_truncate((message.subject or "通知").strip(), max_bytes)
