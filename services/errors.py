"""Errors sorted where they happen: infrastructure trouble is retried, the rest isolated."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator

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


@contextlib.asynccontextmanager
async def redelivered_after_backoff(log: logging.Logger) -> AsyncIterator[None]:
    """Around a batch handler: on Redis/Kafka trouble, pause before the batch is nacked."""
    try:
        yield
    except INFRASTRUCTURE_ERRORS:
        log.exception("batch failed; redelivering in %.0f s", INFRASTRUCTURE_BACKOFF_S)
        await asyncio.sleep(INFRASTRUCTURE_BACKOFF_S)
        raise
