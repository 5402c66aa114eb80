"""A generic HTTP SMS gateway (e.g. an enterprise's own SMS platform).

``POST <url>`` with ``Authorization: Bearer <token>`` and a JSON body::

    {"mobile": "13800138000", "template": "<template id>",
     "params": {"name": "张三", ...}, "request_id": "<delivery_key>"}

``request_id`` is the idempotency key.  2xx = accepted; the gateway's id is taken from
``id`` / ``message_id`` / ``msg_id`` in a JSON answer if present.  4xx is permanent
except 408 and 429 (retryable, honouring ``Retry-After``); 5xx is retryable.

The gateway pushes no delivery reports and no replies to duban: its SMS counts as
accepted only (never as reached), its templates should not ask for the reply ``code``
(nobody would receive the reply), and it goes on to the next channel after the report
timeout only when ``DUBAN_SMS_GATEWAY_REPORT_TIMEOUT`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._answers import json_object, raise_unless_2xx
from ._http import HttpChannel
from ._sms import national_mobile, template_id
from .base import Family, OutboundMessage, SendResult


@dataclass(frozen=True)
class SmsGatewaySettings:
    url: str
    token: str = field(repr=False)
    timeout_s: float = 10.0


class SmsGatewayChannel(HttpChannel[SmsGatewaySettings]):
    family: Family = "sms"
    default_name = "sms_gateway"

    def build_body(self, message: OutboundMessage) -> dict[str, object]:
        return {
            "mobile": national_mobile(message, channel=self.name),
            "template": template_id(message, channel=self.name),
            "params": dict(message.sms_params),
            "request_id": message.delivery_key,
        }

    async def send(self, message: OutboundMessage) -> SendResult:
        response = await self._http.post_json(
            self.settings.url,
            self.build_body(message),
            headers={"Authorization": f"Bearer {self.settings.token}"},
        )
        raise_unless_2xx(response, channel=self.name)
        data = json_object(response) or {}
        message_id = next(
            (str(data[k]) for k in ("id", "message_id", "msg_id") if data.get(k)), None
        )
        answer = f"HTTP {response.status_code}"
        if message_id:
            answer += f" id={message_id}"
        return SendResult(provider_message_id=message_id, provider_answer=answer)
