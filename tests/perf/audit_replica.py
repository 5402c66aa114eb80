"""One audit service in a process of its own: `python -m tests.perf.audit_replica TAG DSN`.

For the several-processes ingest figure: the FastStream app of `create_audit` on the
bench run's topics, group and database (named by TAG and DSN). Prints "ready" once
started and runs until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from services.audit.app import create_audit
from services.runner import running
from tests.perf.audit import audit_settings
from tests.stack import stack_config


async def serve(tag: str, dsn: str) -> None:
    """Run one audit service until stdin closes."""
    parts = create_audit(audit_settings(stack_config(), tag, dsn))
    async with running(parts.app):
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:  # as services/runner.py
        loop.run(serve(sys.argv[1], sys.argv[2]))
