"""Errors sorted where they happen: infrastructure trouble is retried, the rest isolated."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError

# Redis or Kafka unavailable: the consumed batch is redelivered after a pause. Anything
# else raised while handling one message is that message's problem: it is dead-lettered.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (RedisError, KafkaError, OSError)
INFRASTRUCTURE_BACKOFF_S = 2.0


class NotReplicated(RedisError):
    """Fewer replicas than asked for acknowledged a write in time (services.store.replicas)."""


# Redis answers PING but takes no write: a replica (READONLY, before or during a
# failover), no primary known to the sentinels, a primary without the replicas
# `min-replicas-to-write` asks for (NOREPLICAS), or a WAIT that fell short. No record is
# to blame for these, however healthy the probes look.
_NO_WRITES: tuple[type[BaseException], ...] = (ReadOnlyError, MasterNotFoundError, NotReplicated)
# The replies' codes; a pipeline's error puts them after "Command # n (...) of pipeline".
_NO_WRITES_REPLY = re.compile(r"\b(NOREPLICAS|READONLY) ")


def store_refuses_writes(error: BaseException) -> bool:
    """Whether ``error`` says Redis takes no writes now (never a record's fault)."""
    if isinstance(error, _NO_WRITES):
        return True
    return isinstance(error, ResponseError) and bool(_NO_WRITES_REPLY.search(str(error)))


class FailureStreak:
    """Logs a retried loop's failures without a traceback every few seconds: the first
    failure of a streak (and one with another kind of error) with its traceback, then one
    line every ``every_s`` while the streak lasts, and one line when it ends."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        level: int = logging.ERROR,
    ) -> None:
        self.log = log
        self.what = what
        self.every_s = every_s
        self.monotonic = monotonic
        self.level = level  # of the failure lines (the end of a streak is a warning)
        self.failures = 0
        self._began = self._logged = 0.0
        self._kind = ""

    def failed(self, error: BaseException, retry_s: float) -> None:
        """One more failure; logged if it starts a streak, is another kind of error, or
        the streak's line is due."""
        now, kind = self.monotonic(), type(error).__qualname__
        self.failures += 1
        if self.failures == 1:
            self._began = now
        if self.failures == 1 or kind != self._kind:
            self._kind, self._logged = kind, now
            self.log.log(
                self.level, "%s failed; retrying every %g s", self.what, retry_s, exc_info=error
            )
        elif now - self._logged >= self.every_s:
            self._logged = now
            self.log.log(
                self.level,
                "%s still failing: %d attempts in %.0f s (%s)",
                self.what,
                self.failures,
                now - self._began,
                kind,
            )

    def succeeded(self) -> None:
        """The loop works again: the streak, if any, ends with a line saying so."""
        if self.failures:
            self.log.warning(
                "%s works again after %d failed attempts in %.0f s",
                self.what,
                self.failures,
                self.monotonic() - self._began,
            )
            self.failures = 0
