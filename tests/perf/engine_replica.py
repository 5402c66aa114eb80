"""One engine replica in a process of its own: `python -m tests.perf.engine_replica TAG`.

For the multi-replica ingest figure: each replica is the FastStream app of
`create_engine` on the bench run's topics, group and Redis database (named by TAG),
with the bench's fake clock and no timer loop. Prints "ready" once started and runs
until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from services.engine.app import create_engine
from services.runner import running
from tests.fakes import FakeClock
from tests.perf.common import bench_settings
from tests.perf.events import CLOCK_AT
from tests.stack import stack_config


async def serve(tag: str, db: int) -> None:
    """Run one replica until stdin closes."""
    settings = bench_settings(stack_config(), tag, db)
    parts = create_engine(settings, clock=FakeClock(CLOCK_AT), run_timers=False)
    async with running(parts.app):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:  # as services/runner.py
        loop.run(serve(sys.argv[1], int(sys.argv[2])))
