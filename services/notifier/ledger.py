"""The delivery ledger: one Redis key per notice × occurrence × recipient × channel.

A delivery is claimed with a lease before sending ("sending:<owner>"), and marked
"sent" only after the provider accepted it (Alertmanager's rule: record after success).
A replica that finds "sent" does nothing; one that finds another's live lease waits
for it; a lease left by a crashed replica expires and the delivery is taken over.

"sent" keeps what the receipt said (provider message id, attempts, when), so a notice
redelivered after a crash between the send and its receipt gets that same receipt
published again instead of none.

The lease is short (``lease_s``) and the ledger renews every lease it holds, all in
one call, every third of it, so a replica that died loses its deliveries within
``lease_s`` rather than after the longest send. A claim also looks at the notice's
other channels: a notice redelivered after it went out on a later channel (the first
had failed) is found sent in the same call. Claims, completions and releases from
concurrent deliveries are grouped (services.groupcommit): one script call per batch,
not one round trip per delivery.

In doubt: right before the provider call the ledger notes that a send began (a
"try" key next to the lease, kept after the lease expires). A later claim that finds
the lease gone but the try key there learns the delivery is **in doubt**: its sender
died or froze mid-send, and the provider may have the message. The claim is granted
with the answer "doubt" ("doubt_again" when that send was itself the resend of a
delivery in doubt); services.notifier.deliver decides what to send. "doubt:" records a
delivery given up in doubt on its channel for good (final there, like "sent:"; the
notice's other channels may still be tried). A "sent" record also notes
once its receipt is out (``Sent.receipted``): a redelivered batch then publishes no
receipt again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson
from redis.asyncio import Redis

from services.groupcommit import GroupCommit
from services.masking import redact
from services.store.keys import DELIVERY_PREFIX as PREFIX
from services.store.keys import DELIVERY_TRY_PREFIX as TRY_PREFIX
from services.store.replicas import NO_WAIT, ReplicaWait

log = logging.getLogger("duban.notifier")
SENT_TTL_S = 180 * 86400  # far longer than any redelivery or replay window
LEASE_S = 30.0
MAX_BATCH = 500  # deliveries per script call: bounds how long one call holds Redis
# Completions arrive spread out (sends end at different times): wait this long to
# complete them together. A "sent" mark is then at most 2 ms later than it could be.
MARK_LINGER_S = 0.002

Claim = Literal["claimed", "busy", "doubt", "doubt_again"]
Found = tuple[str, "Sent"]  # a delivery key recorded as sent, and its record


@dataclass(frozen=True)
class Sent:
    """What the ledger keeps of a delivery the provider accepted: enough to publish the
    same receipt again. ``at`` is None for a record that holds only a message id."""

    provider_message_id: str | None
    attempts: int
    at: datetime | None
    receipted: bool = False  # its receipt was published (confirmed by the broker)

    def encode(self) -> str:
        at = None if self.at is None else self.at.isoformat()
        data = {"id": self.provider_message_id, "attempts": self.attempts, "at": at}
        return orjson.dumps(data | {"r": 1} if self.receipted else data).decode()

    @classmethod
    def decode(cls, value: str) -> Sent:
        """From the text after "sent:"; a bare message id (or nothing) reads as one."""
        try:
            data = orjson.loads(value)
            receipted = bool(data.get("r"))
            return cls(data["id"], int(data["attempts"]), _moment(data["at"]), receipted)
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(value or None, 1, None)


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


# KEYS: per claim, its try key, the delivery key to claim, then the keys of the notice's
# other channels. ARGV: owner, lease_ms, then per claim how many keys it has (the try key
# included). Per claim: the first of its keys recorded as sent, or the key to claim given
# up in doubt ("found:<position>:<value>"; another channel given up in doubt does not
# count: the notice went on to this one), else claimed; doubt (claimed, but an earlier send of it
# began and never ended); doubt_again (so did the resend of it, in doubt); or busy. Our
# own live lease counts as claimed (and is extended).
_CLAIM = """
local answers = {}
local mine = 'sending:' .. ARGV[1]
local try = 1
for c = 3, #ARGV do
  local count = tonumber(ARGV[c])
  local first = try + 1
  local answer = nil
  local current = nil
  for i = first, try + count - 1 do
    local value = redis.call('GET', KEYS[i])
    if i == first then current = value end
    if value and (string.sub(value, 1, 5) == 'sent:'
        or (i == first and string.sub(value, 1, 6) == 'doubt:')) then
      answer = 'found:' .. (i - first) .. ':' .. value
      break
    end
  end
  if not answer then
    if not current then
      redis.call('SET', KEYS[first], mine, 'PX', ARGV[2])
      local tried = redis.call('GET', KEYS[try])
      if not tried then answer = 'claimed'
      elseif tried == 'again' then answer = 'doubt_again'
      else answer = 'doubt' end
    elseif current == mine then
      -- ours, and a send of it began (its completion was not recorded: Redis was down,
      -- the batch came back): in doubt as well
      redis.call('PEXPIRE', KEYS[first], ARGV[2])
      local tried = redis.call('GET', KEYS[try])
      if not tried then answer = 'claimed'
      elseif tried == 'again' then answer = 'doubt_again'
      else answer = 'doubt' end
    else
      answer = 'busy'
    end
  end
  answers[c - 2] = answer
  try = try + count
end
return answers
"""

# KEYS: per delivery, its key and its try key. ARGV: ttl_s, then per delivery its final
# record ("sent:<receipt>" or "doubt:<record>"). The try key goes: the send ended.
_MARK_SENT = """
for i = 1, #KEYS / 2 do
  redis.call('SET', KEYS[2 * i - 1], ARGV[i + 1], 'EX', ARGV[1])
  redis.call('DEL', KEYS[2 * i])
end
return #KEYS
"""

# KEYS: per delivery, its key and its try key. ARGV: owner. Drops our own leases only,
# and with them the note that a send began (it ended: refused, not delivered).
_RELEASE = """
local mine = 'sending:' .. ARGV[1]
for i = 1, #KEYS / 2 do
  if redis.call('GET', KEYS[2 * i - 1]) == mine then
    redis.call('DEL', KEYS[2 * i - 1], KEYS[2 * i])
  end
end
return #KEYS
"""

# KEYS: per delivery, its key and its try key. ARGV: owner, ttl_s, then per delivery the
# note ("try", or "again" for the resend of a delivery in doubt). Notes that a send
# begins, only while the lease is still ours: 1 per delivery noted, 0 if the lease was
# lost (another replica may be sending it: do not send).
_SENDING = """
local mine = 'sending:' .. ARGV[1]
local noted = {}
for i = 1, #KEYS / 2 do
  if redis.call('GET', KEYS[2 * i - 1]) == mine then
    redis.call('SET', KEYS[2 * i], ARGV[i + 2], 'EX', ARGV[2])
    noted[i] = 1
  else
    noted[i] = 0
  end
end
return noted
"""

# KEYS: delivery keys. ARGV: owner, lease_ms. Extends our leases; 1 per key still ours.
_RENEW = """
local mine = 'sending:' .. ARGV[1]
local held = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == mine then
    redis.call('PEXPIRE', key, ARGV[2])
    held[i] = 1
  else
    held[i] = 0
  end
end
return held
"""


class DeliveryLedger:
    """Claims, completes and releases deliveries by key; renews the leases it holds."""

    def __init__(
        self, redis: Redis, owner: str, *, lease_s: float = LEASE_S, wait: ReplicaWait = NO_WAIT
    ) -> None:
        self.redis = redis
        self.owner = owner
        self.lease_s = lease_s
        self.wait = wait  # after "sent:" and "doubt:" records: WAIT for replicas
        self._claim_script = redis.register_script(_CLAIM)
        self._mark_script = redis.register_script(_MARK_SENT)
        self._release_script = redis.register_script(_RELEASE)
        self._renew_script = redis.register_script(_RENEW)
        self._sending_script = redis.register_script(_SENDING)
        self._claims = GroupCommit(self._claim_all, MAX_BATCH)
        self._marks = GroupCommit(self._mark_all, MAX_BATCH, linger_s=MARK_LINGER_S)
        self._releases = GroupCommit(self._release_all, MAX_BATCH)
        self._sendings = GroupCommit(self._sending_all, MAX_BATCH)
        self._held: set[str] = set()
        self._unwritten: dict[str, str] = {}  # final records whose write failed, by key
        self._renewer: asyncio.Task[None] | None = None

    async def claim(self, key: str, others: Sequence[str] = ()) -> Claim | Found:
        """Try to own a delivery; while owned, its lease is renewed until it is marked
        sent or released. If it, or one of ``others`` (the notice's other channels), is
        recorded as sent, nothing is claimed: that key and its record come back."""
        for k in (key, *others):
            if k in self._unwritten:  # sent by us, its record lost to an outage: write it
                record = self._unwritten[k]
                await self._write_final(k, record)
                return k, _recorded(record)
        answer = await self._claims.submit((key, tuple(others)))
        if answer in ("claimed", "doubt", "doubt_again"):
            self._held.add(key)
            if self._renewer is None or self._renewer.done():
                self._renewer = asyncio.create_task(self._renew_forever())
        return answer

    async def mark_sent(self, key: str, sent: Sent) -> None:
        """Record a delivery as done, for good (again with ``receipted`` once its receipt
        is out)."""
        self._held.discard(key)
        await self._write_final(key, "sent:" + sent.encode())

    async def sending(self, key: str, again: bool = False) -> bool:
        """Note that the provider call begins (``again``: it resends a delivery in doubt);
        False if our lease was lost meanwhile (a freeze past the lease: another replica
        may have the delivery now)."""
        held = bool(await self._sendings.submit((key, "again" if again else "try")))
        if not held:
            self._held.discard(key)  # not ours to renew any more
        return held

    def abandon(self, key: str) -> None:
        """Stop renewing a lease whose send was cut off (cancelled mid-send): it expires,
        and the try key left behind tells the next claimer the delivery is in doubt."""
        self._held.discard(key)

    async def mark_doubt(self, key: str, attempts: int, at: datetime) -> None:
        """Record a delivery in doubt as final: it is never sent again."""
        self._held.discard(key)
        record = orjson.dumps({"attempts": attempts, "at": at.isoformat()}).decode()
        await self._write_final(key, "doubt:" + record)

    async def release(self, key: str) -> None:
        """Give up our lease (the send failed and was not delivered)."""
        self._held.discard(key)
        await self._releases.submit(key)

    async def state(self, key: str) -> str | None:
        """The raw ledger value (for tests and `duban dlq`)."""
        value = await self.redis.get(PREFIX + key)
        return None if value is None else _text(value)

    @property
    def held(self) -> frozenset[str]:
        """The deliveries this replica is sending now."""
        return frozenset(self._held)

    async def aclose(self) -> None:
        """Stop renewing (the leases still held then expire within ``lease_s``)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer

    async def renew(self) -> list[str]:
        """Extend every lease held now; the keys whose lease was lost."""
        keys = sorted(self._held)
        lost = []
        for start in range(0, len(keys), MAX_BATCH):
            chunk = keys[start : start + MAX_BATCH]
            held = await self._renew_script(keys=_prefixed(chunk), args=self._lease_args())
            lost += [k for k, still in zip(chunk, held, strict=True) if not still]
        return lost

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_s / 3)
            try:
                lost = await self.renew()
            except Exception:
                log.warning("renewing %d delivery lease(s) failed; will retry", len(self._held))
                continue
            for key in lost:
                if key in self._held:  # not finished while the renewal ran
                    log.error("lease on delivery %s was lost while sending", redact(key))

    async def _write_final(self, key: str, record: str) -> None:
        """Write a final record; if that fails (Redis down, failing over, or no replica
        confirmed it), keep it here, so that this replica, which knows the provider took
        the message, writes it again when the delivery comes back instead of sending it
        again in doubt. Raises what the write raised."""
        self._unwritten[key] = record
        await self._marks.submit((key, record))
        if self._unwritten.get(key) == record:
            del self._unwritten[key]

    async def _claim_all(self, claims: list[tuple[str, tuple[str, ...]]]) -> list[Claim | Found]:
        keys = [k for key, others in claims for k in (TRY_PREFIX + key, *_prefixed([key, *others]))]
        counts = [2 + len(others) for _, others in claims]
        answers = await self._claim_script(keys=keys, args=[*self._lease_args(), *counts])
        return [
            _claim_answer(_text(a), (key, *others))
            for a, (key, others) in zip(answers, claims, strict=True)
        ]

    async def _mark_all(self, items: list[tuple[str, str]]) -> list[None]:
        keys = _with_try([key for key, _ in items])
        await self.wait.script(self._mark_script, keys, [SENT_TTL_S, *(r for _, r in items)])
        return [None] * len(items)

    async def _release_all(self, keys: list[str]) -> list[None]:
        await self._release_script(keys=_with_try(keys), args=[self.owner])
        return [None] * len(keys)

    async def _sending_all(self, items: list[tuple[str, str]]) -> list[int]:
        keys = _with_try([key for key, _ in items])
        args: list[str | int] = [self.owner, SENT_TTL_S, *(note for _, note in items)]
        return [int(n) for n in await self._sending_script(keys=keys, args=args)]

    def _lease_args(self) -> list[str | int]:
        return [self.owner, int(self.lease_s * 1000)]


def _claim_answer(answer: str, keys: tuple[str, ...]) -> Claim | Found:
    if answer in ("claimed", "busy", "doubt", "doubt_again"):
        return answer  # type: ignore[return-value]
    found, position, value = answer.split(":", 2)
    if found != "found" or not value.startswith(("sent:", "doubt:")):
        raise RuntimeError(f"unexpected ledger answer {redact(answer)!r}")
    return keys[int(position)], _recorded(value)


def _recorded(value: str) -> Sent:
    """A final record ("sent:..." or "doubt:...") as the Sent a claim answers."""
    if value.startswith("doubt:"):
        # In doubt, for good: nothing to send, no receipt to publish again (at is None).
        return Sent(None, 1, None, receipted=True)
    return Sent.decode(value[len("sent:") :])


def _prefixed(keys: Sequence[str]) -> list[str]:
    return [PREFIX + k for k in keys]


def _with_try(keys: Sequence[str]) -> list[str]:
    """Per delivery key, its ledger key and its try key."""
    return [k for key in keys for k in (PREFIX + key, TRY_PREFIX + key)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
