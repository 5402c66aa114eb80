"""The oracle: `duban simulate` over what was published, against what the providers took.

A delivery is identified by (notice id, occurrence, person id), the delivery key without
its channel. Expected: every notice the simulation has due by the end of the run.
Delivered: per delivery, the email messages and the SMS received (each is one in the
person's inbox or on their phone), plus the distinct webhook deliveries (the receiver
de-duplicates by key) and the Feishu messages (Feishu shows one per request uuid: the
stand-in keeps one, and the uuid, the delivery key's digest, is mapped back to its key).

A notice due less than RACE_S before the closure of its hazard is *raced*: the simulation
sends it (it replays in time order), the engine may get the closure first and rightly
send nothing (its timers fire on the wall clock, a poll later). Either outcome is right:
raced deliveries are expected when made, and not lost when not.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.config.load import load_config
from services.notifier.channels.feishu_app import request_uuid
from services.simulate import Rejected, read_events, simulate
from tests.chaos.inbox import Received

Delivery = tuple[str, str, str]  # notice id, occurrence, person id
LATE_BOUND_S = 60.0  # beyond the longest fault's downtime
CHANNELS = ("feishu_app", "aliyun_sms", "email", "webhook")  # tests/chaos/config/channels.yaml
RACE_S = 2.0  # the engine's timer poll (0.2 s) and a consumer's fetch, with room


class Due(dict[Delivery, datetime]):
    """Deliveries due by the end and when; ``raced``: those due less than RACE_S before
    the closure of their hazard."""

    raced: frozenset[Delivery] = frozenset()


def expected_notices(
    events: list[dict[str, Any]], config: Path, end: datetime, horizon: timedelta
) -> tuple[Due, set[Delivery]]:
    """(deliveries due by `end` with their due time, every delivery due by end + horizon)."""
    rules = load_config(config).rules()
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    parsed = [e for e in read_events(lines) if not isinstance(e, Rejected)]
    due = Due()
    every: set[Delivery] = set()
    for notice in simulate(parsed, rules, end + horizon):
        key = (notice.notice_id, str(notice.occurrence), notice.recipient.person.id)
        every.add(key)
        at = notice.channels[0].not_before or notice.at
        if at <= end:
            due.setdefault(key, at)
    due.raced = raced(due, events)
    return due, every


def raced(due: dict[Delivery, datetime], events: list[dict[str, Any]]) -> frozenset[Delivery]:
    """The deliveries due less than RACE_S before their hazard's closure."""
    closed: dict[str, list[datetime]] = defaultdict(list)
    for event in events:
        if event["type"] == "hazard.closed":
            closed[str(event["subject"])].append(datetime.fromisoformat(event["time"]))
    return frozenset(
        delivery
        for delivery, at in due.items()
        if delivery[0].startswith("hazard:")
        and any(0 < (c - at).total_seconds() <= RACE_S for c in closed[delivery[0].split(":")[1]])
    )


def delivery_of(key: str) -> tuple[Delivery, str]:
    """A delivery key's delivery and channel."""
    notice_id, occurrence, person, channel = key.rsplit(":", 3)
    return (notice_id, occurrence, person), channel


@dataclass
class Verdict:
    expected: int
    delivered: int
    lost: list[Delivery] = field(default_factory=list)
    duplicated: dict[Delivery, int] = field(default_factory=dict)  # extra copies
    duplicated_by_channel: Counter[str] = field(default_factory=Counter)
    delivered_by_channel: Counter[str] = field(default_factory=Counter)  # its first in routing
    unexpected: list[Delivery] = field(default_factory=list)
    late: list[tuple[Delivery, float]] = field(default_factory=list)
    after_end: int = 0  # delivered, due after the end: neither expected nor unexpected
    raced_not_sent: int = 0  # due just before their hazard's closure, not sent: right too

    def figures(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": len(self.lost),
            "duplicated": sum(self.duplicated.values()),
            "duplicated_by_channel": dict(self.duplicated_by_channel),
            "delivered_by_channel": dict(self.delivered_by_channel),
            "unexpected": len(self.unexpected),
            "late": len(self.late),
            "delivered_due_after_end": self.after_end,
            "raced_not_sent": self.raced_not_sent,
        }


def _copies(
    received: list[Received], feishu: dict[str, Delivery]
) -> tuple[dict[Delivery, Counter[str]], dict[Delivery, float]]:
    """Per delivery, the copies each channel's provider kept, and when the first came."""
    copies: dict[Delivery, Counter[str]] = defaultdict(Counter)
    first: dict[Delivery, float] = {}
    webhook_seen: set[str] = set()
    for item in received:
        if item.channel == "feishu_app":  # the stand-in keeps one per uuid
            delivery, channel = feishu.get(item.key, ("?", "?", item.key)), item.channel
        else:
            delivery, channel = delivery_of(item.key)
        if channel == "webhook":
            if item.key in webhook_seen:
                continue  # the receiver keeps one per key
            webhook_seen.add(item.key)
        copies[delivery][channel] += 1
        first[delivery] = min(first.get(delivery, item.at), item.at)
    return copies, first


def feishu_uuids(deliveries: set[Delivery]) -> dict[str, Delivery]:
    """The Feishu request uuid of each delivery's feishu_app key → the delivery."""
    return {request_uuid(":".join((*d, "feishu_app"))): d for d in deliveries}


def compare(
    due: dict[Delivery, datetime],
    every: set[Delivery],
    received: list[Received],
    late_after_s: float,
) -> Verdict:
    """What was lost, sent twice, sent without cause, or sent late."""
    copies, first = _copies(received, feishu_uuids(every | due.keys()))
    raced_ones: frozenset[Delivery] = getattr(due, "raced", frozenset())
    skipped = raced_ones - copies.keys()  # due just before their closure: either way is right
    verdict = Verdict(expected=len(due) - len(skipped), delivered=len(copies.keys() & due.keys()))
    verdict.raced_not_sent = len(skipped)
    for channel in CHANNELS:  # every channel shows, with 0 when it repeated nothing
        verdict.duplicated_by_channel[channel] += 0
    verdict.lost = sorted(due.keys() - copies.keys() - skipped)
    for delivery, channels in copies.items():
        if delivery in due:
            verdict.delivered_by_channel[min(channels, key=CHANNELS.index)] += 1
        total = sum(channels.values())
        if total > 1:
            verdict.duplicated[delivery] = total - 1
            for channel, n in channels.items():
                verdict.duplicated_by_channel[channel] += n - 1 if n > 1 else 0
            if len(channels) > 1:
                verdict.duplicated_by_channel["across channels"] += len(channels) - 1
        if delivery not in every:
            verdict.unexpected.append(delivery)
        elif delivery not in due:
            verdict.after_end += 1
        else:
            lateness = first[delivery] - due[delivery].timestamp()
            if lateness > late_after_s:
                verdict.late.append((delivery, round(lateness, 1)))
    return verdict
