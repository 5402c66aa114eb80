"""What the SMS stand-ins push back to duban: delivery reports and replies, on demand.

A provider pushes to URLs configured in its console; a stand-in gets them as
``report_url`` and ``reply_url``. A URL may name ``{provider}``, ``{report}`` and
``{reply}``, filled with the stand-in's provider name and its own callback paths
(Aliyun: sms-report, sms-up; Tencent: sms-status, sms-reply), so one pattern serves both.

Every push is recorded in ``pushes`` with the answer and whether it is the answer the
provider wants (``accepted``). The control endpoint, for the local inbox page and for
tests over HTTP::

    POST /_control/report  {"message_id": "<BizId / SerialNo / OutId / SessionContext>",
                            "mobile": "139…", "success": true, "times": 1, "code": "MBBLACK"}
    POST /_control/reply   {"mobile": "139…", "text": "4271"}

``message_id`` and ``mobile`` pick the message (the latest sent to that mobile, or the
latest of all when neither is given); ``times: 2`` pushes the same report twice, as
providers do. Answers 200 with the pushes made, 404 when no such message was sent, 400 for
a bad request, 502 when duban's answer was not the one the provider wants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web

BEIJING = timezone(timedelta(hours=8))
CONTROL_PATHS = ("/_control/report", "/_control/reply")
PUSH_TIMEOUT_S = 10.0


@dataclass
class Push:
    """One push to duban and its answer."""

    kind: str  # "report" or "reply"
    body: Any
    status: int
    answer: Any
    accepted: bool


def callback_url(pattern: str | None, provider: str, report: str, reply: str) -> str | None:
    """A configured callback URL with its ``{provider}``/``{report}``/``{reply}`` filled."""
    if not pattern:
        return None
    for name, value in (("provider", provider), ("report", report), ("reply", reply)):
        pattern = pattern.replace("{" + name + "}", value)
    return pattern


def beijing_time(epoch_s: float) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, as the providers write it."""
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


async def post_json(url: str | None, body: Any) -> tuple[int, Any]:
    """POST ``body`` as JSON; the HTTP status and the parsed answer (text if not JSON)."""
    if url is None:
        raise LookupError("no callback URL configured")
    timeout = aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(
            url,
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        ) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def control(fake: Any, request: web.Request) -> web.Response:
    """The control endpoint: push a report or a reply as asked (see the module docstring)."""
    try:
        asked = await request.json()
        if not isinstance(asked, dict):
            raise ValueError("not an object")
    except ValueError:
        return web.json_response({"error": "body must be a JSON object"}, status=400)
    try:
        if request.path.endswith("/report"):
            pushes = await fake.push_report(
                message_id=_text(asked.get("message_id") or asked.get("id")),
                mobile=_text(asked.get("mobile")),
                success=asked.get("success", True) is not False,
                times=max(1, min(int(asked.get("times", 1)), 5)),
                code=_text(asked.get("code")),
            )
        else:
            mobile, text = _text(asked.get("mobile")), _text(asked.get("text"))
            if not mobile or text is None:
                return web.json_response({"error": "mobile and text required"}, status=400)
            pushes = [await fake.push_reply(mobile, text)]
    except LookupError as e:
        return web.json_response({"error": str(e)}, status=404)
    except (aiohttp.ClientError, TimeoutError) as e:
        return web.json_response({"error": f"duban unreachable: {type(e).__name__}"}, status=502)
    answers = [{"status": p.status, "answer": p.answer} for p in pushes]
    status = 200 if all(p.accepted for p in pushes) else 502
    return web.json_response({"pushed": len(pushes), "answers": answers}, status=status)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
