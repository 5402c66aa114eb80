"""Errors sorted where they happen: infrastructure trouble is retried, the rest isolated."""

from __future__ import annotations

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

# Redis or Kafka unavailable: the consumed batch is redelivered after a pause. Anything
# else raised while handling one message is that message's problem: it is dead-lettered.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (RedisError, KafkaError, OSError)
INFRASTRUCTURE_BACKOFF_S = 2.0
