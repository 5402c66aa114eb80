"""The record guard: no consumed record can stop a consumer.

Every consumer hands its batch to one `RecordGuard`. A batch that raises is looked at
again: when the infrastructure (Kafka, Redis) does not answer, the batch is redelivered
after a pause, as before. When it does answer, the failure belongs to a record, so the
batch is handled again one record at a time: a record whose handling raises anything
but an infrastructure error is dead-lettered at once, and one that keeps failing with an
infrastructure error while the infrastructure is fine is dead-lettered after `attempts`
tries, with the count. Handling is idempotent (keyed effects), so handling the records
that did not fail a second time changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.errors import (
    INFRASTRUCTURE_BACKOFF_S,
    INFRASTRUCTURE_ERRORS,
    store_refuses_writes,
)
from services.masking import redact

DEFAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class Record:
    """One consumed Kafka message: its bytes, key and coordinates."""

    value: bytes
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp_ms: int = 0  # when it reached Kafka (the record's timestamp); 0: unknown

    @property
    def position(self) -> str:
        """topic[partition]@offset, for logs and reasons."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


Handle = Callable[[Sequence[Record]], Awaitable[object]]
DeadLetter = Callable[[Record, str], Awaitable[None]]
Healthy = Callable[[], Awaitable[bool]]


def failure_reason(error: BaseException) -> str:
    """A one-line, masked description of an exception (never its traceback)."""
    text = str(error)
    return redact(f"{type(error).__name__}: {text}" if text else type(error).__name__, limit=500)


@dataclass
class RecordGuard:
    """Runs a batch handler so that one record can never halt its consumer."""

    name: str
    dead_letter: DeadLetter
    healthy: Healthy
    log: logging.Logger
    attempts: int = DEFAULT_ATTEMPTS
    backoff_s: float = INFRASTRUCTURE_BACKOFF_S
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep

    async def run(self, records: Sequence[Record], handle: Handle) -> None:
        """Handle the batch; on failure, find and dead-letter the records to blame."""
        try:
            await handle(records)
            return
        except INFRASTRUCTURE_ERRORS as e:
            await self._unless_down(e)
        except Exception as e:
            self.log.warning(
                "%s: batch failed (%s); handling its records one by one",
                self.name,
                failure_reason(e),
            )
        for record in records:
            await self._one(record, handle)

    async def _one(self, record: Record, handle: Handle) -> None:
        error: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                await handle([record])
                return
            except INFRASTRUCTURE_ERRORS as e:
                await self._unless_down(e)
                error = e
            except Exception as e:
                await self._poisoned(
                    record, f"{self.name} could not process it: {failure_reason(e)}"
                )
                return
            if attempt < self.attempts:
                await self.sleep(self.backoff_s)
        assert error is not None
        await self._poisoned(
            record,
            f"{self.name} failed {self.attempts} times while Kafka and Redis answered: "
            f"{failure_reason(error)}",
        )

    async def _unless_down(self, error: BaseException) -> None:
        """Re-raise (after a pause) when the infrastructure is down: the batch waits.
        Redis refusing writes (a failover, replicas missing) is down, whatever PING says."""
        if not store_refuses_writes(error) and await self.healthy():
            self.log.warning(
                "%s: %s while Kafka and Redis answer; looking at each record",
                self.name,
                failure_reason(error),
            )
            return
        self.log.warning(
            "%s: infrastructure unavailable (%s); redelivering in %.0f s",
            self.name,
            failure_reason(error),
            self.backoff_s,
        )
        await self.sleep(self.backoff_s)
        raise error

    async def _poisoned(self, record: Record, reason: str) -> None:
        self.log.warning("dead-lettered %s: %s", record.position, reason)
        await self.dead_letter(record, reason)
