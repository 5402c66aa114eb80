"""The oracle: `duban simulate` over what was published, against what the providers took.

A delivery is identified by (notice id, occurrence, person id), the delivery key without
its channel. Expected: every notice the simulation has due by the end of the run.
Delivered: per delivery, the email messages received (each is one in the person's
inbox) plus the distinct webhook deliveries (the receiver de-duplicates by key).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.config.load import load_config
from services.simulate import Rejected, read_events, simulate
from tests.chaos.standins import Received

Delivery = tuple[str, str, str]  # notice id, occurrence, person id
LATE_BOUND_S = 60.0  # beyond the longest fault's downtime


def expected_notices(
    events: list[dict[str, Any]], config: Path, end: datetime, horizon: timedelta
) -> tuple[dict[Delivery, datetime], set[Delivery]]:
    """(deliveries due by `end` with their due time, every delivery due by end + horizon)."""
    rules = load_config(config).rules()
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    parsed = [e for e in read_events(lines) if not isinstance(e, Rejected)]
    due: dict[Delivery, datetime] = {}
    every: set[Delivery] = set()
    for notice in simulate(parsed, rules, end + horizon):
        key = (notice.notice_id, str(notice.occurrence), notice.recipient.person.id)
        every.add(key)
        at = notice.channels[0].not_before or notice.at
        if at <= end:
            due.setdefault(key, at)
    return due, every


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
    unexpected: list[Delivery] = field(default_factory=list)
    late: list[tuple[Delivery, float]] = field(default_factory=list)
    after_end: int = 0  # delivered, due after the end: neither expected nor unexpected

    def figures(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": len(self.lost),
            "duplicated": sum(self.duplicated.values()),
            "duplicated_by_channel": dict(self.duplicated_by_channel),
            "unexpected": len(self.unexpected),
            "late": len(self.late),
            "delivered_due_after_end": self.after_end,
        }


def _copies(
    received: list[Received],
) -> tuple[dict[Delivery, Counter[str]], dict[Delivery, float]]:
    """Per delivery, the copies each channel's provider kept, and when the first came."""
    copies: dict[Delivery, Counter[str]] = defaultdict(Counter)
    first: dict[Delivery, float] = {}
    webhook_seen: set[str] = set()
    for item in received:
        delivery, channel = delivery_of(item.key)
        if channel == "webhook":
            if item.key in webhook_seen:
                continue  # the receiver keeps one per key
            webhook_seen.add(item.key)
        copies[delivery][channel] += 1
        first[delivery] = min(first.get(delivery, item.at), item.at)
    return copies, first


def compare(
    due: dict[Delivery, datetime],
    every: set[Delivery],
    received: list[Received],
    late_after_s: float,
) -> Verdict:
    """What was lost, sent twice, sent without cause, or sent late."""
    copies, first = _copies(received)
    verdict = Verdict(expected=len(due), delivered=len(copies.keys() & due.keys()))
    verdict.lost = sorted(due.keys() - copies.keys())
    for delivery, channels in copies.items():
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
