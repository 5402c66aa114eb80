"""The chaos run's Redis as deployed for high availability: a primary and a replica
watched by three sentinels (tests/sentinel.py), the services told to find the primary
through them and to WAIT for the replica after each commit (DUBAN_REDIS_WAIT_REPLICAS=1).

Its two faults: ``redis_kill`` (kill -9 of the replica, restarted: with
``min-replicas-to-write 1`` the primary refuses writes meanwhile) and ``failover`` (kill -9
of the primary: the sentinels promote the replica; the old primary, restarted, rejoins as
the new one's replica).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.sentinel import HOST, SentinelSet

MASTER = "duban-chaos"


class HaRedis:
    """Two Redis nodes and three sentinels this run may kill."""

    def __init__(self, home: Path, fsync: str) -> None:
        self.nodes = SentinelSet(home, master=MASTER, fsync=fsync)

    async def start(self) -> None:
        await self.nodes.start()

    def env(self, db: int) -> dict[str, str]:
        """What the services need to reach the set (the URL only names the database)."""
        return {
            "DUBAN_REDIS_URL": f"redis://{HOST}:{self.nodes.ports.primary}/{db}",
            "DUBAN_REDIS_SENTINELS": self.nodes.sentinels,
            "DUBAN_REDIS_MASTER": MASTER,
            "DUBAN_REDIS_WAIT_REPLICAS": "1",
        }

    async def kill_replica(self, down_s: float) -> str:
        port = await self.nodes.replica()
        self.nodes.kill(port)
        await asyncio.sleep(down_s)
        await self.nodes.restart(port)
        await self.nodes.wait_replicas(1)
        return f"kill -9 redis replica :{port}, restarted"

    async def fail_over(self, down_s: float) -> str:
        old = await self.nodes.kill_primary()
        new = await self.nodes.wait_failover(old, timeout_s=60)
        await asyncio.sleep(down_s)
        await self.nodes.restart(old)
        await self.nodes.wait_replicas(1)
        return f"kill -9 redis primary :{old}, sentinels promoted :{new}, :{old} rejoined"

    def stop(self) -> None:
        self.nodes.stop()
