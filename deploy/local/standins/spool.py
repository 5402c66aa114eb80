"""The shared spool of the running stand-ins: one JSON line per accepted message.

``python -m deploy.local.standins`` appends every message a stand-in accepts to
``.stack/inbox/messages.jsonl``, as its recipient would see it::

    {"id": "…", "time": "2026-…Z", "channel": "aliyun_sms", "standin": "http://127.0.0.1:8123",
     "recipient": {"mobile": "13800000001"}, "text": "【安全督办】…", "ack_links": […],
     "provider_message_id": "900619746936499^0", "delivery_key": "…" | null,
     "notice_id": … | null, "person_id": … | null}

One line per recipient (an SMS request may name several numbers). The inbox page
(deploy/local/inbox.py) reads the file; nothing else does.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ._base import FakeHttpProvider
from .example import SIGN_NAME, SmsText

ACK_LINK = re.compile(r"https?://[^\s\"'<>)\]]+/ack\?t=[A-Za-z0-9_.%-]+")
Describe = Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]]]


class Spool:
    """Appends message lines to one file (one process writes it: the runner)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, message: Mapping[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def record_into(spool: Spool, fake: FakeHttpProvider, channel: str, describe: Describe) -> None:
    """Make `fake` append every message it accepts to `spool`: its success answer (which
    carries the provider's message id) is made as before, then described."""
    answer = fake.success

    def success(record: dict[str, Any]) -> web.StreamResponse:
        response = answer(record)
        body = getattr(response, "body", None)
        try:
            answered = json.loads(body) if isinstance(body, bytes) else {}
        except ValueError:
            answered = {}
        for message in describe(record, answered if isinstance(answered, dict) else {}):
            spool.add(_line(channel, fake.base_url, message))
        return response

    fake.success = success  # type: ignore[method-assign]


def _line(channel: str, standin: str, message: dict[str, Any]) -> dict[str, Any]:
    text = str(message.get("text", ""))
    links = sorted(set(ACK_LINK.findall(text + " " + str(message.pop("raw", "")))))
    line = {
        "id": uuid.uuid4().hex[:12],
        "time": datetime.now(UTC).isoformat(),
        "channel": channel,
        "standin": standin,
        "recipient": {},
        "text": text,
        "ack_links": links,
        "provider_message_id": None,
        "delivery_key": None,
    }
    line.update(message)
    return line


def strings(node: object, skip: frozenset[str] = frozenset()) -> Iterable[str]:
    """Every string inside a JSON value (card texts), except under keys in `skip`;
    JSON-in-a-string (Feishu's `content`) is opened."""
    if isinstance(node, str):
        if node.startswith(("{", "[")):
            try:
                yield from strings(json.loads(node), skip)
                return
            except ValueError:
                pass
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in skip:
                yield from strings(value, skip)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value, skip)


def readable(body: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
    """The texts of a chat message body, one per line, without ids and type names."""
    ignored = frozenset(
        {"msgtype", "msg_type", "tag", "agentid", "agent_id", "uuid", "template", "type", *skip}
    )
    seen: list[str] = []
    for text in strings(dict(body), ignored):
        if text.strip() and text not in seen and not text.startswith("_"):
            seen.append(text)
    return "\n".join(seen)


# -- robots -------------------------------------------------------------------------------


def robot(channel: str) -> Describe:
    """A group robot's post: the group, whom it @-mentions, its text."""

    def describe(record: dict[str, Any], _: dict[str, Any]) -> list[dict[str, Any]]:
        mentioned = [str(m) for m in record.get("_mentioned", [])]
        body = {k: v for k, v in record.items() if not k.startswith("_")}
        text = readable(
            body, skip=("timestamp", "sign", "at", "mentioned_list", "mentioned_mobile_list")
        )
        recipient = {"group": channel, "mentioned": mentioned}
        return [{"recipient": recipient, "text": text, "raw": json.dumps(body)}]

    return describe


# -- SMS ----------------------------------------------------------------------------------


def aliyun(texts: Mapping[str, SmsText]) -> Describe:
    def describe(record: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
        params, values = record["params"], record["template_params"]
        template = texts.get(params["TemplateCode"])
        body = template.fill(values) if template else record["rendered"]
        return [
            {
                "recipient": {"mobile": mobile},
                "text": f"【{params['SignName']}】{body}",
                "provider_message_id": answer.get("BizId"),
                "out_id": params.get("OutId"),
                "template": params["TemplateCode"],
                "params": values,
            }
            for mobile in params["PhoneNumbers"].split(",")
        ]

    return describe


def tencent(texts: Mapping[str, SmsText]) -> Describe:
    def describe(record: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
        template = texts.get(str(record["TemplateId"]))
        values = [str(v) for v in record.get("TemplateParamSet", [])]
        body = template.fill(values) if template else "，".join(values)
        statuses = (answer.get("Response") or {}).get("SendStatusSet") or []
        serial = {s.get("PhoneNumber"): s.get("SerialNo") for s in statuses}
        return [
            {
                "recipient": {"mobile": str(number).removeprefix("+86")},
                "text": f"【{record.get('SignName', SIGN_NAME)}】{body}",
                "provider_message_id": serial.get(number),
                "session_context": record.get("SessionContext"),
                "template": str(record["TemplateId"]),
                "params": values,
            }
            for number in record["PhoneNumberSet"]
        ]

    return describe


def gateway(texts: Mapping[str, SmsText]) -> Describe:
    def describe(record: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
        template = texts.get(record["template"])
        body = template.fill(record["params"]) if template else json.dumps(record["params"])
        message = {
            "recipient": {"mobile": record["mobile"]},
            "text": body,
            "provider_message_id": answer.get("id"),
            "delivery_key": record["request_id"],
        }
        return [message]

    return describe


# -- webhook and the work-chat apps ------------------------------------------------------


def webhook(record: dict[str, Any], _: dict[str, Any]) -> list[dict[str, Any]]:
    """duban's signed webhook: the whole notice, shown as its main lines."""
    notice = record.get("payload") if isinstance(record.get("payload"), dict) else {}
    assert isinstance(notice, dict)
    person = notice.get("recipient") or {}
    facts = notice.get("facts") or {}
    step = "·".join(str(x) for x in (notice.get("kind"), notice.get("action")) if x)
    lines = [f"通知 {step}：{notice.get('notice_id', '')}"]
    lines += [f"{k}：{facts[k]}" for k in ("title", "unit_name", "deadline") if facts.get(k)]
    return [
        {
            "recipient": {"person": person.get("person_id"), "name": person.get("name")},
            "text": "\n".join(lines),
            "delivery_key": record.get("delivery"),
            "raw": json.dumps(notice, ensure_ascii=False),
        }
    ]


def work_app(receiver_fields: tuple[str, ...]) -> Describe:
    """A work-chat application message: the userid/open_id it goes to, its card texts."""

    def describe(record: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
        body = record.get("body", record) if isinstance(record.get("body"), dict) else record
        receivers = _receivers(body, receiver_fields)
        text = readable(body, skip=(*receiver_fields, "access_token", "receive_id_type"))
        raw = "\n".join(strings(body))
        msg_id = _message_id(answer)
        return [
            {"recipient": {"userid": r}, "text": text, "raw": raw, "provider_message_id": msg_id}
            for r in receivers or ["?"]
        ]

    return describe


def _receivers(body: Mapping[str, Any], fields: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for name in fields:
        value = body.get(name)
        if isinstance(value, str):
            found += [v for v in re.split(r"[|,]", value) if v]
        elif isinstance(value, list):
            found += [str(v) for v in value]
    return found


def _message_id(answer: Mapping[str, Any]) -> str | None:
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    assert isinstance(data, dict)
    for value in (answer.get("msgid"), answer.get("task_id"), data.get("message_id")):
        if value:
            return str(value)
    return None
