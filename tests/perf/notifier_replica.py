"""One notifier in a process of its own: `python -m tests.perf.notifier_replica TAG DB WHERE`.

For the several-processes delivery figure: the FastStream app of `create_notifier` on
the bench run's topics, group and Redis database (named by TAG and DB), with rate
limits off and its channels pointed at the sinks described by WHERE (the JSON the sink
process printed). Prints "ready" once started and runs until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvloop

from services.notifier.app import create_notifier
from services.runner import running
from tests.perf.common import bench_settings
from tests.perf.notifier import channels_for
from tests.stack import stack_config


async def serve(tag: str, db: int, where: str) -> None:
    """Run one notifier until stdin closes."""
    settings = bench_settings(stack_config(), tag, db, rate_limits=False)
    parts = create_notifier(settings, channels=channels_for(json.loads(where)))
    async with running(parts.app):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:  # as services/runner.py
        loop.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
