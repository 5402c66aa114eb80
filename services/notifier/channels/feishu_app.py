"""Feishu (飞书) app messages to one person, by open_id.

Token: ``POST {api_base}/open-apis/auth/v3/tenant_access_token/internal`` with
``{"app_id", "app_secret"}`` → ``{"code": 0, "tenant_access_token": "t-…", "expire": 7200}``
(Feishu hands out a new token once fewer than 30 minutes are left; both stay valid).
Send: ``POST {api_base}/open-apis/im/v1/messages?receive_id_type=open_id`` with
``Authorization: Bearer TOKEN`` and ``{"receive_id", "msg_type": "interactive",
"content": "<card as a JSON string>", "uuid"}``. The card has the subject as its header,
the markdown body, and a "查看并确认" button to the acknowledgement page when the notice
has one.

``uuid`` is the delivery key (a SHA-256 digest of it when longer than Feishu's 50
characters): Feishu sends a request with a uuid it has seen in the last hour at most
once, so a resend after a timeout does not reach the person twice.

Answers: ``{"code": 0, "data": {"message_id": "om_…"}}``; errors come with HTTP 400 (or
429) and a code. 99991661 / 99991663 / 99991664 / 99991665 / 99991668 (token missing,
invalid or expired) → new token, sent once more; 99991400, 230020, 11232 and HTTP 429
(frequency) → retryable after ``x-ogw-ratelimit-reset`` / ``Retry-After`` (else 1 s);
HTTP 5xx → retryable; 230013 (the person is outside the app's availability), other
2300xx and the rest → permanent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ._answers import (
    http_status_error,
    json_object,
    provider_error,
    retry_after_seconds,
    unexpected_answer,
    utf8_truncate,
)
from ._http import HttpAnswer, json_bytes
from ._workapp import ACK_BUTTON, WorkAppChannel, title_of
from .apptoken import Issued, app_id
from .base import DeliveryError, OutboundMessage, SendResult

DEFAULT_API_BASE = "https://open.feishu.cn"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
SEND_PATH = "/open-apis/im/v1/messages?receive_id_type=open_id"
UUID_MAX_CHARS = 50
MARKDOWN_MAX_BYTES = 28 * 1024  # the whole card may have 30 KB
TOKEN_CODES = frozenset({99991661, 99991663, 99991664, 99991665, 99991668})
FREQUENCY_CODES = frozenset({99991400, 230020, 11232})
FREQUENCY_WAIT_S = 1.0
"""The wait after a frequency limit that names none (5 messages a second per person)."""


@dataclass(frozen=True)
class FeishuAppSettings:
    app_id: str
    app_secret: str = field(repr=False)
    api_base: str = DEFAULT_API_BASE
    """``https://open.feishu.cn`` (Lark: ``https://open.larksuite.com``)."""
    timeout_s: float = 10.0
    card_template: str = "red"
    """Card header colour (a Feishu template name: red, orange, blue, ...)."""


def request_uuid(delivery_key: str) -> str:
    """The send's ``uuid``: the delivery key, or its digest when Feishu would refuse it."""
    if len(delivery_key) <= UUID_MAX_CHARS and delivery_key.isascii():
        return delivery_key
    return "dk-" + hashlib.sha256(delivery_key.encode("utf-8")).hexdigest()[:47]


class FeishuAppChannel(WorkAppChannel[FeishuAppSettings]):
    default_name = "feishu_app"
    recipient_field = "to_feishu_open_id"
    provider = "Feishu"
    dedupes_by_key = True  # Feishu drops a repeated uuid within an hour (a resend is harmless)

    def app(self) -> str:
        s = self.settings
        return app_id("feishu_app", s.api_base, s.app_id, s.app_secret)

    def _url(self, path: str) -> str:
        return f"{self.settings.api_base.rstrip('/')}{path}"

    async def fetch_token(self) -> Issued:
        s = self.settings
        credentials = {"app_id": s.app_id, "app_secret": s.app_secret}
        answer = await self._http.post_json(self._url(TOKEN_PATH), credentials)
        data = json_object(answer) or {}
        code, msg = self.code_of(answer)
        token = data.get("tenant_access_token")
        if answer.status_code == 200 and code == 0 and isinstance(token, str) and token:
            lasts = data.get("expire")
            return Issued(token, float(lasts) if isinstance(lasts, int | float) else 7200.0)
        if code is None:
            if answer.status_code != 200:
                raise http_status_error(answer, channel=self.name, what="access token request")
            raise unexpected_answer(answer, channel=self.name)
        raise self._error("access token refused: code", code, msg, answer)

    def build_body(self, message: OutboundMessage, to: str) -> dict[str, Any]:
        content = json_bytes(self.card(message)).decode("utf-8")
        return {
            "receive_id": to,
            "msg_type": "interactive",
            "content": content,
            "uuid": request_uuid(message.delivery_key),
        }

    def card(self, message: OutboundMessage) -> dict[str, Any]:
        """The interactive card: header, the markdown body, the acknowledgement button."""
        markdown = utf8_truncate(message.markdown or message.text, MARKDOWN_MAX_BYTES)
        elements: list[dict[str, Any]] = [{"tag": "markdown", "content": markdown}]
        if message.ack_url:
            button = {
                "tag": "button",
                "text": {"tag": "plain_text", "content": ACK_BUTTON},
                "type": "primary",
                "url": message.ack_url,
            }
            elements.append({"tag": "action", "actions": [button]})
        header = {
            "title": {"tag": "plain_text", "content": title_of(message, 200)},
            "template": self.settings.card_template,
        }
        return {"config": {"wide_screen_mode": True}, "header": header, "elements": elements}

    async def post(self, token: str, body: dict[str, Any]) -> HttpAnswer:
        auth = {"Authorization": f"Bearer {token}"}
        return await self._http.post_json(self._url(SEND_PATH), body, headers=auth)

    def code_of(self, answer: HttpAnswer) -> tuple[object, str]:
        data = json_object(answer)
        if data is None or "code" not in data:
            return None, ""
        return data.get("code"), str(data.get("msg", ""))

    def token_refused(self, answer: HttpAnswer) -> bool:
        code, _ = self.code_of(answer)
        return code in TOKEN_CODES

    def judge(self, answer: HttpAnswer, to: str) -> SendResult:
        code, msg = self.code_of(answer)
        if code is None:
            raise unexpected_answer(answer, channel=self.name)
        if code == 0 and answer.status_code == 200:
            data = (json_object(answer) or {}).get("data")
            found = data.get("message_id") if isinstance(data, dict) else None
            message_id = str(found) if found else None
            return SendResult(provider_message_id=message_id, provider_answer=f"code=0 {msg}")
        raise self._error("Feishu code", code, msg, answer)

    def _error(self, label: str, code: object, msg: str, answer: HttpAnswer) -> DeliveryError:
        """Frequency limits and server trouble are retryable; the rest is permanent."""
        status = answer.status_code
        frequency = code in FREQUENCY_CODES or status == 429
        wait = _reset_seconds(answer) if frequency else None
        return provider_error(
            label,
            code,
            msg,
            retryable=frequency or status >= 500,
            retry_after_s=wait,
            channel=self.name,
        )


def _reset_seconds(answer: HttpAnswer) -> float:
    """Seconds until Feishu's rate window resets: ``x-ogw-ratelimit-reset``, else
    ``Retry-After``, else :data:`FREQUENCY_WAIT_S`."""
    reset = answer.headers.get("x-ogw-ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset))
        except ValueError:
            pass
    found = retry_after_seconds(answer)
    return FREQUENCY_WAIT_S if found is None else found
