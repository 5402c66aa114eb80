"""Deliveries awaiting their delivery report, in Redis: registered by the notifier when the
provider accepted an SMS, settled once by the first report (the ack service's callbacks),
and given up on by the notifier when the report says it failed or none came in time.

Per delivery key, a hash holds the notice (to send it on the next channel), the channel,
the provider's message id, the mobile, and what happened since: the report (``r``: reached
or failed), whether the reached receipt was published (``rr``: pending, done) and the
fallback (``f``: none when it reached in time, taken while the notifier sends it on, done).
A sorted set holds the moment each delivery stops waiting; a failure report makes it due
at once. Every transition is one Lua call, so a report pushed twice, two replicas and a
report racing the timeout each settle a delivery once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

from redis.asyncio import Redis

from contracts.notice import NoticeRequested
from services.sms.pushes import DeliveryReport
from services.store.keys import SMS_AWAITING_KEY, SMS_DELIVERY_PREFIX, SMS_REF_PREFIX
from services.store.timers import RedisTimerStore

KEEP_S = 7 * 86400  # after the wait: late reports are still recorded (handsets come back on)
Taken = Literal["first", "again", "duplicate", "mismatch", "unknown"]


@dataclass(frozen=True)
class Awaiting:
    """A delivery whose delivery report is awaited, and what has happened since."""

    delivery_key: str
    notice: NoticeRequested
    channel: str
    attempts: int
    sent_at: datetime
    provider: str | None  # "aliyun" / "tencent": where the report comes from; None: none does
    provider_id: str | None
    mobile: str | None
    report: str = ""  # "", "reached", "failed"
    report_code: str = ""
    report_text: str = ""
    reported_at: datetime | None = None
    receipt: str = ""  # the reached receipt: "", "pending", "done"
    fallback: str = ""  # "", "none", "taken", "done"

    def fields(self) -> dict[str, str]:
        """The hash fields."""
        return {
            "n": self.notice.model_dump_json(),
            "c": self.channel,
            "a": str(self.attempts),
            "s": self.sent_at.isoformat(),
            "p": self.provider or "",
            "i": self.provider_id or "",
            "m": self.mobile or "",
            "r": self.report,
            "rc": self.report_code,
            "rt": self.report_text,
            "ra": "" if self.reported_at is None else self.reported_at.isoformat(),
            "rr": self.receipt,
            "f": self.fallback,
        }

    @classmethod
    def of(cls, key: str, fields: Mapping[str, str]) -> Awaiting:
        """From the hash fields (ValueError when they do not read)."""
        reported = fields.get("ra", "")
        return cls(
            delivery_key=key,
            notice=NoticeRequested.model_validate_json(fields["n"]),
            channel=fields["c"],
            attempts=int(fields["a"]),
            sent_at=datetime.fromisoformat(fields["s"]),
            provider=fields.get("p") or None,
            provider_id=fields.get("i") or None,
            mobile=fields.get("m") or None,
            report=fields.get("r", ""),
            report_code=fields.get("rc", ""),
            report_text=fields.get("rt", ""),
            reported_at=datetime.fromisoformat(reported) if reported else None,
            receipt=fields.get("rr", ""),
            fallback=fields.get("f", ""),
        )

    def reported(self, report: DeliveryReport, now: datetime) -> Awaiting:
        """This delivery with ``report`` taken (as the store records it)."""
        return replace(
            self,
            report="reached" if report.success else "failed",
            report_code=report.code,
            report_text=report.description,
            reported_at=report.reported_at or now,
        )


class AwaitingStore(Protocol):
    """Where deliveries wait for their report (RedisAwaiting; in memory: MemoryAwaiting)."""

    async def register(self, item: Awaiting, give_up_at: datetime) -> bool:
        """Start waiting (nothing changes when it already waits); whether it was new."""
        ...

    async def find(self, report: DeliveryReport) -> str | None:
        """The delivery key a report is about, by OutId or the provider's message id."""
        ...

    async def take_report(
        self, key: str, report: DeliveryReport, now: datetime
    ) -> tuple[Taken, Awaiting | None]:
        """Settle the delivery with its first report: "first" (and the delivery), "again"
        (taken before, its reached receipt not yet published), "duplicate", "mismatch"
        (another mobile's report) or "unknown" (no such delivery waits)."""
        ...

    async def receipt_published(self, key: str) -> None:
        """The reached receipt is on Kafka: a report pushed again publishes nothing."""
        ...

    async def due(self, now: datetime, limit: int, lease_s: float) -> list[str]:
        """Deliveries to give up on (failure reported, or no report in time), leased."""
        ...

    async def begin_fallback(self, key: str) -> Awaiting | None:
        """Take a due delivery to send it on; None when nothing is to be done any more."""
        ...

    async def fallback_done(self, key: str) -> None:
        """The delivery was sent on (or dead-lettered): it waits no more."""
        ...


# KEYS: hash, zset, ref. ARGV: ttl_s, give_up_ms, member, has_ref, then field/value pairs.
_REGISTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] == '1' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[1]) end
return 1
"""

# KEYS: hash, zset. ARGV: member, outcome, code, text, reported_at, mobile.
_TAKE_REPORT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local mobile = redis.call('HGET', KEYS[1], 'm')
if ARGV[6] ~= '' and mobile and mobile ~= '' and mobile ~= ARGV[6] then return {'mismatch'} end
local report = redis.call('HGET', KEYS[1], 'r')
if report and report ~= '' then
  if redis.call('HGET', KEYS[1], 'rr') == 'pending' then
    return {'again', unpack(redis.call('HGETALL', KEYS[1]))}
  end
  return {'duplicate'}
end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'rc', ARGV[3], 'rt', ARGV[4], 'ra', ARGV[5])
local fallback = redis.call('HGET', KEYS[1], 'f') or ''
if ARGV[2] == 'reached' then
  redis.call('HSET', KEYS[1], 'rr', 'pending')
  if fallback == '' then
    redis.call('HSET', KEYS[1], 'f', 'none')
    redis.call('ZREM', KEYS[2], ARGV[1])
  end
elseif fallback == '' then
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
return {'first', unpack(redis.call('HGETALL', KEYS[1]))}
"""

# KEYS: hash, zset. ARGV: member.
_BEGIN_FALLBACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {}
end
local fallback = redis.call('HGET', KEYS[1], 'f') or ''
if fallback == 'none' or fallback == 'done' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return {}
end
if fallback == '' then redis.call('HSET', KEYS[1], 'f', 'taken') end
return redis.call('HGETALL', KEYS[1])
"""


class RedisAwaiting:
    """The AwaitingStore in Redis."""

    def __init__(self, redis: Redis, keep_s: int = KEEP_S) -> None:
        self.redis = redis
        self.keep_s = keep_s
        self.timers = RedisTimerStore(redis, SMS_AWAITING_KEY)
        self._register = redis.register_script(_REGISTER)
        self._take = redis.register_script(_TAKE_REPORT)
        self._begin = redis.register_script(_BEGIN_FALLBACK)

    async def register(self, item: Awaiting, give_up_at: datetime) -> bool:
        ref = _ref_key(item.provider, item.provider_id)
        pairs = [v for pair in item.fields().items() for v in pair]
        ttl = self.keep_s + max(0, int((give_up_at - item.sent_at).total_seconds()))
        args = [ttl, _ms(give_up_at), item.delivery_key, "1" if ref else "0", *pairs]
        keys = [_hash(item.delivery_key), SMS_AWAITING_KEY, ref or _hash(item.delivery_key)]
        return bool(await self._register(keys=keys, args=args))

    async def find(self, report: DeliveryReport) -> str | None:
        key = report.delivery_key
        if key and await self.redis.exists(_hash(key)):
            return key
        ref = _ref_key(report.provider, report.provider_id)
        found = await self.redis.get(ref) if ref else None
        return None if found is None else _text(found)

    async def take_report(
        self, key: str, report: DeliveryReport, now: datetime
    ) -> tuple[Taken, Awaiting | None]:
        outcome = "reached" if report.success else "failed"
        moment = (report.reported_at or now).isoformat()
        args = [key, outcome, report.code, report.description, moment, report.mobile or ""]
        answer = await self._take(keys=[_hash(key), SMS_AWAITING_KEY], args=args)
        taken: Taken = _text(answer[0])  # type: ignore[assignment]
        return taken, (_awaiting(key, answer[1:]) if len(answer) > 1 else None)

    async def receipt_published(self, key: str) -> None:
        await self.redis.hset(_hash(key), "rr", "done")

    async def due(self, now: datetime, limit: int, lease_s: float) -> list[str]:
        return [c.member for c in await self.timers.claim_due(now, limit, lease_s)]

    async def begin_fallback(self, key: str) -> Awaiting | None:
        answer = await self._begin(keys=[_hash(key), SMS_AWAITING_KEY], args=[key])
        return _awaiting(key, answer) if answer else None

    async def fallback_done(self, key: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_hash(key), "f", "done")
            pipe.zrem(SMS_AWAITING_KEY, key)
            await pipe.execute()


def _awaiting(key: str, flat: Sequence[bytes | str]) -> Awaiting:
    texts = [_text(v) for v in flat]
    return Awaiting.of(key, dict(zip(texts[::2], texts[1::2], strict=True)))


def _hash(key: str) -> str:
    return SMS_DELIVERY_PREFIX + key


def _ref_key(provider: str | None, provider_id: str | None) -> str | None:
    return f"{SMS_REF_PREFIX}{provider}:{provider_id}" if provider and provider_id else None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
