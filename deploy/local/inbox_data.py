"""What the local inbox page shows: every message the stand-ins and the mail catcher took,
and who it went to. Messages come from the stand-ins' spool
(deploy/local/standins/spool.py) and the mail catcher's .eml files; names from the
example directory and unit. The receipts next to them: deploy/local/inbox_receipts.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ruamel.yaml import YAML

log = logging.getLogger("duban.inbox")
ROOT = Path(__file__).resolve().parents[2]
CHANNEL_NAMES = {
    "wecom_app": "企业微信",
    "dingtalk_work": "钉钉工作通知",
    "feishu_app": "飞书",
    "wecom": "企业微信群",
    "dingtalk": "钉钉群",
    "feishu": "飞书群",
    "aliyun_sms": "阿里云短信",
    "tencent_sms": "腾讯云短信",
    "sms_gateway": "短信网关",
    "email": "邮件",
    "webhook": "Webhook",
}
SMS_CHANNELS = frozenset({"aliyun_sms", "tencent_sms", "sms_gateway"})


@dataclass
class Message:
    """One message as its recipient received it."""

    id: str
    time: datetime
    channel: str
    recipient: dict[str, Any]
    text: str
    subject: str | None = None
    ack_links: list[str] = field(default_factory=list)
    provider_message_id: str | None = None
    delivery_key: str | None = None
    standin: str | None = None
    notice_id: str | None = None
    person_id: str | None = None

    @property
    def address(self) -> str:
        """The recipient's address on this channel (mobile, email, userid, group)."""
        r = self.recipient
        for name in ("mobile", "email", "userid", "group", "person"):
            if r.get(name):
                return str(r[name])
        return "?"

    @property
    def is_sms(self) -> bool:
        return self.channel in SMS_CHANNELS


def parse_delivery_key(key: str) -> tuple[str, int, str, str] | None:
    """(notice id, occurrence, person id, channel) of `notice:occurrence:person:channel`
    (the notice id may itself hold colons)."""
    parts = key.rsplit(":", 3)
    if len(parts) != 4 or not parts[1].isdigit() or not parts[0]:
        return None
    return parts[0], int(parts[1]), parts[2], parts[3]


def token_names(link: str) -> tuple[str, str] | None:
    """(notice id, person id) an ack link's token names (read, not verified: display)."""
    token = (parse_qs(urlsplit(link).query).get("t") or [""])[0]
    payload = unquote(token).partition(".")[0]
    try:
        fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    if isinstance(fields, list) and len(fields) >= 2:
        return str(fields[0]), str(fields[1])
    return None


# -- reading the spool and the mail folder ---------------------------------------------


class Spool:
    """The stand-ins' messages.jsonl, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._messages: list[Message] = []

    def messages(self) -> list[Message]:
        if not self.path.exists():
            return list(self._messages)
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits
        self._offset += len(complete)
        for line in complete.splitlines():
            try:
                self._messages.append(_from_spool(json.loads(line)))
            except (ValueError, KeyError, TypeError) as e:
                log.warning("inbox: a spool line skipped (%s)", e)
        return list(self._messages)


def _from_spool(line: dict[str, Any]) -> Message:
    message = Message(
        id=str(line["id"]),
        time=datetime.fromisoformat(line["time"]),
        channel=str(line["channel"]),
        recipient=dict(line.get("recipient") or {}),
        text=str(line.get("text", "")),
        ack_links=list(line.get("ack_links") or []),
        provider_message_id=line.get("provider_message_id"),
        delivery_key=line.get("delivery_key"),
        standin=line.get("standin"),
    )
    return _named(message)


def _named(message: Message) -> Message:
    """The notice and person the message names, where it does."""
    if message.delivery_key and (parsed := parse_delivery_key(message.delivery_key)):
        message.notice_id, _, message.person_id, _ = parsed
    for link in message.ack_links:
        if (names := token_names(link)) is not None:
            message.notice_id, message.person_id = names
    if message.person_id is None and message.recipient.get("person"):
        message.person_id = str(message.recipient["person"])
    return message


class MailFolder:
    """The mail catcher's .eml files (one per message and recipient)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parsed: dict[str, Message] = {}

    def messages(self) -> list[Message]:
        for file in sorted(self.path.glob("*.eml")) if self.path.exists() else []:
            if file.name not in self._parsed:
                try:
                    self._parsed[file.name] = _from_mail(file)
                except (OSError, ValueError) as e:
                    log.warning("inbox: %s skipped (%s)", file.name, e)
        return list(self._parsed.values())


def _from_mail(file: Path) -> Message:
    from deploy.local.standins.spool import ACK_LINK

    mail = BytesParser(policy=policy.default).parsebytes(file.read_bytes())
    assert isinstance(mail, EmailMessage)
    part = mail.get_body(preferencelist=("plain", "html"))
    text = str(part.get_content()) if part is not None else ""
    stamp = file.name.split("_", 1)[0]
    message = Message(
        id="mail-" + file.stem[:40].replace("@", "-").replace(".", "-"),
        time=datetime.strptime(stamp.split("-")[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC),
        channel="email",
        recipient={"email": str(mail.get("Delivered-To", ""))},
        text=text,
        subject=str(mail.get("Subject", "")),
        ack_links=sorted(set(ACK_LINK.findall(text))),
        delivery_key=str(mail["X-Duban-Delivery"]) if mail["X-Duban-Delivery"] else None,
    )
    return _named(message)


# -- names --------------------------------------------------------------------------------


def directory_names(root: Path = ROOT) -> tuple[dict[str, str], dict[str, str]]:
    """(person id → name, address → name) from the example directory and unit."""
    by_id: dict[str, str] = {}
    by_address: dict[str, str] = {}
    for person in _people(root):
        name = str(person.get("name") or person.get("id") or "")
        if person.get("id"):
            by_id[str(person["id"])] = name
        for key in ("mobile", "email", "wecom_userid", "dingtalk_userid", "feishu_open_id"):
            address = str(person.get(key) or "")
            known = by_address.get(address, "").split(" / ")
            if address and name not in known:  # the example reuses some mobiles
                by_address[address] = " / ".join([*filter(None, known), name])
    return by_id, by_address


def _people(root: Path) -> Iterator[Mapping[str, Any]]:
    directory = root / "deploy" / "config" / "example" / "directory.yaml"
    data = {}
    if directory.exists():
        data = YAML(typ="safe", pure=True).load(directory.read_text(encoding="utf-8"))
    yield from (p for p in (data or {}).get("people") or [] if isinstance(p, dict))
    unit = root / "contracts" / "examples" / "unit.upserted.json"
    if unit.exists():
        contacts = json.loads(unit.read_text(encoding="utf-8"))["data"].get("contacts", {})
        for value in contacts.values():
            yield from value if isinstance(value, list) else [value]
