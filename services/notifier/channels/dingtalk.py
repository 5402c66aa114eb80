"""DingTalk (钉钉) custom group robot, with the "加签" signature.

``POST https://oapi.dingtalk.com/robot/send?access_token=TOKEN&timestamp=T&sign=S``

Signing (when the robot has a secret): ``T`` is the current time in milliseconds;
``S = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{T}\\n{secret}")))``.  DingTalk
rejects a timestamp more than one hour away from its clock.

The body is ``msgtype=markdown`` (title + text) when the message has a markdown body,
else ``msgtype=text``; both @-mention everyone the post concerns (``mentions``, see
:mod:`.mentions`; also ``at_mobiles``): by DingTalk userid when known
(``at.atUserIds``), else by mobile (``at.atMobiles``), with ``isAtAll: false``.
DingTalk only notifies someone whose ``@<userid>`` / ``@<mobile>`` also appears in the
text, so any missing one is appended on a last line.  The answer is HTTP 200 with
``{"errcode": 0, "errmsg": "ok"}`` or a non-zero errcode.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any, Unpack
from urllib.parse import quote

from ._answers import errcode_result
from ._http import HttpChannel, HttpOptions
from .base import Family, OutboundMessage, SendResult
from .mentions import Targets, dingtalk_targets
from .signing import HmacSha256

_RETRYABLE_CODES = {
    -1,  # 系统繁忙
    130101,  # send too fast, exceed 20 times per minute
    410100,  # 发送速度太快而限流
}
_RETRY_AFTER_S = {130101: 60.0, 410100: 60.0}
# Everything else is permanent, notably 310000 (keywords not in content / sign not
# match / ip not in whitelist / timestamp invalid), 300001 / 400101 (token does not
# exist), 400102 (robot disabled), 400105 (unsupported msgtype), 430101-430104
# (content refused).


def dingtalk_sign(secret: str, timestamp_ms: int, signer: HmacSha256 | None = None) -> str:
    """base64(HMAC-SHA256(secret, f"{timestamp_ms}\\n{secret}")), not yet URL-encoded;
    ``signer``: the secret's, made once (the same signature, cheaper)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    if signer is not None:
        digest = signer.digest(string_to_sign)
    else:
        digest = hmac.digest(secret.encode("utf-8"), string_to_sign, hashlib.sha256)
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class DingTalkSettings:
    webhook_url: str = field(repr=False)
    """``https://oapi.dingtalk.com/robot/send?access_token=...`` (token is a secret)."""
    secret: str | None = field(default=None, repr=False)
    """The robot's ``SEC...`` signing secret; ``None`` if signing is not enabled."""
    timeout_s: float = 10.0


def _with_mentions(body: str, handles: tuple[str, ...]) -> str:
    """``body`` with ``@<handle>`` on a last line for each handle it does not show yet."""
    missing = [h for h in handles if not re.search(rf"(?<!\\)@{re.escape(h)}(?![\w.\-])", body)]
    if not missing:
        return body
    return body.rstrip("\n") + "\n\n" + " ".join(f"@{h}" for h in missing)


def _at(targets: Targets) -> dict[str, Any]:
    at: dict[str, Any] = {"atMobiles": list(targets.mobiles), "isAtAll": False}
    if targets.userids:
        at["atUserIds"] = list(targets.userids)
    return at


class DingTalkChannel(HttpChannel[DingTalkSettings]):
    family: Family = "chat"
    default_name = "dingtalk"

    def __init__(self, settings: DingTalkSettings, **options: Unpack[HttpOptions]) -> None:
        super().__init__(settings, **options)
        secret = settings.secret
        self._signer = HmacSha256(secret.encode("utf-8")) if secret else None

    def signed_url(self) -> str:
        url = self.settings.webhook_url
        if not self.settings.secret:
            return url
        ts = int(self._clock() * 1000)
        sign = quote(dingtalk_sign(self.settings.secret, ts, self._signer), safe="")
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}timestamp={ts}&sign={sign}"

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        targets = dingtalk_targets(message)
        handles = (*targets.userids, *targets.mobiles)
        if message.markdown:
            text = _with_mentions(message.markdown, handles)
            return {
                "msgtype": "markdown",
                "markdown": {"title": message.subject or "通知", "text": text},
                "at": _at(targets),
            }
        content = message.text
        if message.subject and not content.startswith(message.subject):
            content = f"{message.subject}\n{content}"
        return {
            "msgtype": "text",
            "text": {"content": _with_mentions(content, handles)},
            "at": _at(targets),
        }

    async def send(self, message: OutboundMessage) -> SendResult:
        body = self.build_body(message)
        response = await self._http.post_json(self.signed_url(), body)
        return errcode_result(
            response,
            channel=self.name,
            provider="DingTalk",
            retryable_codes=_RETRYABLE_CODES,
            retry_after_s=_RETRY_AFTER_S,
        )
