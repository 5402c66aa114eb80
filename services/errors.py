"""Errors sorted where they happen: infrastructure trouble is retried, the rest isolated."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

# Redis or Kafka unavailable: the consumed batch is redelivered after a pause. Anything
# else raised while handling one message is that message's problem: it is dead-lettered.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (RedisError, KafkaError, OSError)
INFRASTRUCTURE_BACKOFF_S = 2.0


@contextlib.asynccontextmanager
async def redelivered_after_backoff(log: logging.Logger) -> AsyncIterator[None]:
    """Around a batch handler: on Redis/Kafka trouble, pause before the batch is nacked."""
    try:
        yield
    except INFRASTRUCTURE_ERRORS:
        log.exception("batch failed; redelivering in %.0f s", INFRASTRUCTURE_BACKOFF_S)
        await asyncio.sleep(INFRASTRUCTURE_BACKOFF_S)
        raise
