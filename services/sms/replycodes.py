"""Reply codes: the short number an SMS asks its recipient to send back ("回复 4271 确认收到").

A code belongs to one mobile and one notice for one person; every repeat of that notice to
that mobile carries the same code. Codes are random and unique among a mobile's codes
(4 digits; 6 when a mobile holds so many that 4-digit draws keep colliding), so a reply
names one notice, and a code sent to one mobile means nothing from another. A code
acknowledges until it expires; Redis keeps it a week longer, to tell "expired" from
"wrong" in the log. Acknowledging marks it, so a replayed reply acknowledges nothing.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from redis.asyncio import Redis

from services.store.keys import SMS_CODE_OF_PREFIX, SMS_CODE_PREFIX

REPLY_CODE_PARAM = "code"  # the SMS template parameter the notifier fills with the code
GRACE_S = 7 * 86400  # an expired code stays known this long (logged as expired, not wrong)
DRAWS = 12  # candidates of each length tried at once
_DIGIT_RUN = re.compile(r"(?<!\d)\d{4,6}(?!\d)")
Lookup = Literal["live", "expired", "replayed", "unknown"]


class NoFreeCode(RuntimeError):
    """Every candidate collided with a code the mobile already holds (practically never)."""


@dataclass(frozen=True)
class CodeOwner:
    """What a code acknowledges: a notice, for a person."""

    notice_id: str
    person_id: str


class ReplyCodes(Protocol):
    """Issues and looks up reply codes (RedisReplyCodes; in memory: MemoryReplyCodes)."""

    async def issue(self, mobile: str, owner: CodeOwner, now: datetime, ttl_s: int) -> str:
        """The code of this notice for this person on this mobile: the live one, or a new one."""
        ...

    async def look_up(
        self, mobile: str, code: str, now: datetime
    ) -> tuple[Lookup, CodeOwner | None]:
        """Whether ``code`` from ``mobile`` is live, expired, replayed (acknowledged
        already) or unknown (wrong, or another mobile's), and whose it is."""
        ...

    async def acknowledged(self, mobile: str, code: str, now: datetime) -> None:
        """Mark the code used: replies with it acknowledge nothing more."""
        ...


def codes_in(text: str) -> list[str]:
    """The candidate codes in a reply: every run of 4 to 6 digits (full-width ones too)."""
    return _DIGIT_RUN.findall(unicodedata.normalize("NFKC", text))[:3]


def candidates(draw: Callable[[int], int] = secrets.randbelow) -> list[str]:
    """Random codes to try in order: DRAWS of 4 digits, then DRAWS of 6."""
    return [f"{draw(10**n):0{n}d}" for n in (4, 6) for _ in range(DRAWS)]


# KEYS: code-of key, then one code key per candidate. ARGV: now_s, ttl_s, grace_s, owner
# JSON (without expiry), the mobile's code key prefix, then the candidates.
_ISSUE = """
local now = tonumber(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current then
  local held = redis.call('GET', ARGV[5] .. current)
  if held and cjson.decode(held)['e'] > now then return current end
end
local record = cjson.decode(ARGV[4])
record['e'] = now + tonumber(ARGV[2])
local value = cjson.encode(record)
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], value, 'NX', 'EX', tonumber(ARGV[2]) + tonumber(ARGV[3])) then
    redis.call('SET', KEYS[1], ARGV[i + 4], 'EX', ARGV[2])
    return ARGV[i + 4]
  end
end
return false
"""

# KEYS: code key. ARGV: now_s.
_ACKNOWLEDGED = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local record = cjson.decode(held)
if record['a'] then return 0 end
record['a'] = tonumber(ARGV[1])
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
"""


class RedisReplyCodes:
    """ReplyCodes in Redis: one key per mobile and code, one per mobile and notice."""

    def __init__(
        self, redis: Redis, draw: Callable[[], list[str]] = candidates, grace_s: int = GRACE_S
    ) -> None:
        self.redis = redis
        self.draw = draw
        self.grace_s = grace_s
        self._issue = redis.register_script(_ISSUE)
        self._acknowledged = redis.register_script(_ACKNOWLEDGED)

    async def issue(self, mobile: str, owner: CodeOwner, now: datetime, ttl_s: int) -> str:
        drawn = self.draw()
        keys = [code_of_key(mobile, owner), *(code_key(mobile, c) for c in drawn)]
        record = json.dumps({"n": owner.notice_id, "p": owner.person_id}, ensure_ascii=False)
        prefix = code_key(mobile, "")
        args: list[str | int] = [int(now.timestamp()), ttl_s, self.grace_s, record, prefix, *drawn]
        code = await self._issue(keys=keys, args=args)
        if not code:
            raise NoFreeCode(f"no free reply code after {len(drawn)} draws")
        return code.decode() if isinstance(code, bytes) else str(code)

    async def look_up(
        self, mobile: str, code: str, now: datetime
    ) -> tuple[Lookup, CodeOwner | None]:
        held = await self.redis.get(code_key(mobile, code))
        return judge(held, now)

    async def acknowledged(self, mobile: str, code: str, now: datetime) -> None:
        await self._acknowledged(keys=[code_key(mobile, code)], args=[int(now.timestamp())])


def judge(held: bytes | str | None, now: datetime) -> tuple[Lookup, CodeOwner | None]:
    """What a stored code record says at ``now``."""
    if held is None:
        return "unknown", None
    record = json.loads(held)
    owner = CodeOwner(str(record["n"]), str(record["p"]))
    if record.get("a"):
        return "replayed", owner
    if record["e"] <= int(now.timestamp()):
        return "expired", owner
    return "live", owner


def code_key(mobile: str, code: str) -> str:
    """A mobile's code (braces: a mobile's keys share one hash slot)."""
    return f"{SMS_CODE_PREFIX}{{{mobile}}}:{code}"


def code_of_key(mobile: str, owner: CodeOwner) -> str:
    """The code a notice has for a person on a mobile."""
    return f"{SMS_CODE_OF_PREFIX}{{{mobile}}}:{owner.notice_id}\n{owner.person_id}"
