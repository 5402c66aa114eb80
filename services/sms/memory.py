"""In-memory twins of the awaiting store and the reply codes, with the same answers as the
Redis ones (services.sms.awaiting, services.sms.replycodes), for fast tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.sms.awaiting import Awaiting, Taken
from services.sms.pushes import DeliveryReport
from services.sms.replycodes import CodeOwner, Lookup, NoFreeCode, candidates, judge

EPOCH_DUE = datetime.fromtimestamp(0, UTC)


class MemoryAwaiting:
    """The AwaitingStore in dicts (no expiry)."""

    def __init__(self) -> None:
        self.items: dict[str, Awaiting] = {}
        self.give_up: dict[str, datetime] = {}  # the sorted set: key → when to stop waiting
        self.refs: dict[tuple[str, str], str] = {}

    async def register(self, item: Awaiting, give_up_at: datetime) -> bool:
        if item.delivery_key in self.items:
            return False
        self.items[item.delivery_key] = item
        self.give_up[item.delivery_key] = give_up_at
        if item.provider and item.provider_id:
            self.refs[(item.provider, item.provider_id)] = item.delivery_key
        return True

    async def find(self, report: DeliveryReport) -> str | None:
        if report.delivery_key and report.delivery_key in self.items:
            return report.delivery_key
        if report.provider_id:
            return self.refs.get((report.provider, report.provider_id))
        return None

    async def take_report(
        self, key: str, report: DeliveryReport, now: datetime
    ) -> tuple[Taken, Awaiting | None]:
        item = self.items.get(key)
        if item is None:
            return "unknown", None
        if report.mobile and item.mobile and report.mobile != item.mobile:
            return "mismatch", None
        if item.report:
            return ("again", item) if item.receipt == "pending" else ("duplicate", None)
        item = item.reported(report, now)
        if report.success:
            item = replace(item, receipt="pending")
            if not item.fallback:
                item = replace(item, fallback="none")
                self.give_up.pop(key, None)
        elif not item.fallback:
            self.give_up[key] = EPOCH_DUE
        self.items[key] = item
        return "first", item

    async def receipt_published(self, key: str) -> None:
        self.items[key] = replace(self.items[key], receipt="done")

    async def due(self, now: datetime, limit: int, lease_s: float) -> list[str]:
        ready = sorted((at, key) for key, at in self.give_up.items() if at <= now)[:limit]
        for _, key in ready:
            self.give_up[key] = now + timedelta(seconds=lease_s)
        return [key for _, key in ready]

    async def begin_fallback(self, key: str) -> Awaiting | None:
        item = self.items.get(key)
        if item is None or item.fallback in ("none", "done"):
            self.give_up.pop(key, None)
            return None
        if not item.fallback:
            item = self.items[key] = replace(item, fallback="taken")
        return item

    async def fallback_done(self, key: str) -> None:
        self.items[key] = replace(self.items[key], fallback="done")
        self.give_up.pop(key, None)


class MemoryReplyCodes:
    """ReplyCodes in a dict (expired codes are kept: "expired", never "unknown")."""

    def __init__(self, draw: Callable[[], list[str]] = candidates) -> None:
        self.draw = draw
        self.codes: dict[tuple[str, str], str] = {}  # (mobile, code) → record JSON
        self.code_of: dict[tuple[str, CodeOwner], str] = {}

    async def issue(self, mobile: str, owner: CodeOwner, now: datetime, ttl_s: int) -> str:
        current = self.code_of.get((mobile, owner))
        if current is not None and judge(self.codes[(mobile, current)], now)[0] != "expired":
            return current
        for code in self.draw():
            if (mobile, code) not in self.codes:
                expires = int(now.timestamp()) + ttl_s
                record = {"n": owner.notice_id, "p": owner.person_id, "e": expires}
                self.codes[(mobile, code)] = json.dumps(record)
                self.code_of[(mobile, owner)] = code
                return code
        raise NoFreeCode("no free reply code")

    async def look_up(
        self, mobile: str, code: str, now: datetime
    ) -> tuple[Lookup, CodeOwner | None]:
        return judge(self.codes.get((mobile, code)), now)

    async def acknowledged(self, mobile: str, code: str, now: datetime) -> None:
        held = self.codes.get((mobile, code))
        if held is not None:
            record = json.loads(held)
            record.setdefault("a", int(now.timestamp()))
            self.codes[(mobile, code)] = json.dumps(record)
