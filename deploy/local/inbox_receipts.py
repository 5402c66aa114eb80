"""duban's receipts and acknowledgements as the local inbox page shows them, read from
Kafka (:func:`follow`): each message is matched to its delivery by the delivery key where
the provider sees it (gateway, webhook, email), else by the provider's message id (SMS,
app messages), else by the notice and person its ack link names and the channel; the
nearest delivery in time wins."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from deploy.local.inbox_data import Message, parse_delivery_key

log = logging.getLogger("duban.inbox")
ACK_CHANNEL_NAMES = {"link": "链接", "sms_reply": "短信回复"}


@dataclass
class Status:
    """One fact about a message, as the inbox shows it."""

    label: str
    tone: str  # ok, info, bad
    detail: str = ""


class Receipts:
    """duban's receipts and acknowledgements, indexed for matching messages."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.by_provider_id: dict[str, str] = {}
        self.acks: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, event: Mapping[str, Any]) -> None:
        """Take one CloudEvent (notice.delivered / reached / failed / acknowledged)."""
        kind, data = str(event.get("type", "")), event.get("data")
        if not isinstance(data, dict):
            return
        if kind == "notice.acknowledged":
            self.acks.setdefault((str(data["notice_id"]), str(data["person_id"])), data)
            return
        if not {"notice_id", "occurrence", "person_id", "channel"} <= set(data):
            return
        key = f"{data['notice_id']}:{data['occurrence']}:{data['person_id']}:{data['channel']}"
        self.by_key.setdefault(key, []).append((kind, data))
        if data.get("provider_message_id"):
            self.by_provider_id[str(data["provider_message_id"])] = key

    def delivery_of(self, message: Message) -> str | None:
        """The delivery key of a message, if its receipts tell."""
        if message.delivery_key and message.delivery_key in self.by_key:
            return message.delivery_key
        if message.provider_message_id and message.provider_message_id in self.by_provider_id:
            return self.by_provider_id[message.provider_message_id]
        if message.notice_id and message.person_id:
            prefix, suffix = f"{message.notice_id}:", f":{message.person_id}:{message.channel}"
            keys = [k for k in self.by_key if k.startswith(prefix) and k.endswith(suffix)]
            return min(keys, key=lambda k: _distance(self.by_key[k], message.time), default=None)
        return None

    def statuses(self, message: Message) -> list[Status]:
        """What is known of the message: accepted, reached or read, failed, acknowledged."""
        found: list[Status] = []
        key = self.delivery_of(message)
        if key is not None:
            parsed = parse_delivery_key(key)
            if parsed is not None:
                message.notice_id, _, message.person_id, _ = parsed
            found += [s for kind, data in self.by_key[key] if (s := _status(kind, data))]
        ack = self.acks.get((message.notice_id or "", message.person_id or ""))
        if ack is not None:
            by = ACK_CHANNEL_NAMES.get(str(ack.get("channel")), ack.get("channel") or "")
            found.append(Status("已确认", "ok", f"经{by}" if by else ""))
        return found


def _status(kind: str, data: Mapping[str, Any]) -> Status | None:
    if kind == "notice.delivered":
        return Status("已受理", "info", "服务商已接收")
    if kind == "notice.reached":
        return Status("已读", "ok") if data.get("read") else Status("已送达", "ok")
    if kind == "notice.failed":
        return Status("发送失败", "bad", str(data.get("reason", ""))[:120])
    return None


def _distance(receipts: Iterable[tuple[str, dict[str, Any]]], at: datetime) -> float:
    times = [
        datetime.fromisoformat(str(data["delivered_at"]))
        for kind, data in receipts
        if kind == "notice.delivered" and data.get("delivered_at")
    ]
    return min((abs((t - at).total_seconds()) for t in times), default=float("inf"))


async def follow(receipts: Receipts, bootstrap: str, topics: list[str]) -> None:
    """Feed `receipts` from the receipts and acks topics, from their start, for good;
    Kafka trouble is logged and retried."""
    while True:
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        try:
            await consumer.start()
            async for record in consumer:
                _take(receipts, record.value)
        except KafkaError as e:
            log.warning("inbox: Kafka at %s: %s; trying again", bootstrap, e)
        finally:
            await consumer.stop()
        await asyncio.sleep(2.0)


def _take(receipts: Receipts, value: bytes | None) -> None:
    try:
        event = json.loads(value or b"")
    except ValueError:
        return
    if isinstance(event, dict):
        receipts.add(event)


@contextlib.asynccontextmanager
async def following(
    receipts: Receipts, bootstrap: str, topics: list[str]
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(follow(receipts, bootstrap, topics))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
