"""WAIT for replicas after the writes a Kafka offset commit depends on.

Redis replicates asynchronously: a primary killed right after it acknowledged a write
may not have passed it on, and the replica the sentinels promote never had it. With
DUBAN_REDIS_WAIT_REPLICAS=n the engine's state commits and the notifier's sent marks and
quiet-hours deferrals are followed by `WAIT n timeout` on the same connection (one
pipeline: WAIT counts the writes of its own connection). Fewer than n replicas in time:
`NotReplicated`, an infrastructure error, so the batch is not acknowledged to Kafka and
comes back (every such write is keyed or compare-and-set: writing it again is harmless).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from services.errors import NotReplicated
from services.settings import Settings


@dataclass(frozen=True)
class ReplicaWait:
    """How many replicas must have a write before it counts (0: none, no WAIT)."""

    replicas: int = 0
    timeout_ms: int = 1000

    @classmethod
    def of(cls, settings: Settings) -> ReplicaWait:
        """DUBAN_REDIS_WAIT_REPLICAS and DUBAN_REDIS_WAIT_TIMEOUT_MS."""
        return cls(settings.redis_wait_replicas, settings.redis_wait_timeout_ms)

    async def script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a registered script; then, if asked, WAIT for the replicas."""
        if not self.replicas:
            return await script(keys=keys, args=args)
        redis = script.registered_client
        assert isinstance(redis, Redis)

        def queue(pipe: Pipeline) -> None:
            pipe.evalsha(script.sha, len(keys), *keys, *args)

        try:
            [result] = await self.commands(redis, queue)
        except NoScriptError:  # a new primary (a failover) without the script cached yet
            script.sha = await redis.script_load(script.script)
            [result] = await self.commands(redis, queue)
        return result

    async def commands(self, redis: Redis, queue: Callable[[Pipeline], object]) -> list[Any]:
        """Run the commands ``queue`` puts in a pipeline (not a transaction), then, if
        asked, WAIT on the same connection; their results."""
        async with redis.pipeline(transaction=False) as pipe:
            queue(pipe)
            if self.replicas:
                pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                raise result  # as a lone command raises it (a pipeline quotes the command)
        if not self.replicas:
            return results
        acknowledged = int(results.pop())
        if acknowledged < self.replicas:
            raise NotReplicated(
                f"WAIT: {acknowledged} of {self.replicas} replica(s) acknowledged within "
                f"{self.timeout_ms} ms (DUBAN_REDIS_WAIT_REPLICAS)"
            )
        return results


NO_WAIT = ReplicaWait()
