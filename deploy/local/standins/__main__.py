"""Serve every provider stand-in on fixed local ports for `make run`.

    .venv/bin/python -m deploy.local.standins                 # serve until SIGTERM / Ctrl+C
    .venv/bin/python -m deploy.local.standins --env           # print the DUBAN_* variables

Each accepted message goes to the spool (.stack/inbox/messages.jsonl), which the inbox
page shows. Ports: --base-port (default $DUBAN_STACK_STANDINS_PORT, else 8120) plus
each stand-in's offset (deploy/local/standins/runner.py). The SMS stand-ins push reports
and replies to the ack service at --ack-base-url (default $DUBAN_ACK_BASE_URL, else
http://127.0.0.1:8086). `--env` prints shell lines that set each variable unless it is
set already, for `eval`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from .runner import ACK_BASE_URL, BASE_PORT, Served, build, environment, spool_path
from .spool import Spool

ROOT = Path(__file__).resolve().parents[3]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.standins", description=__doc__)
    parser.add_argument(
        "--base-port",
        type=int,
        # A developer tool, like stack.sh: its ports come from DUBAN_STACK_* variables.
        default=int(os.environ.get("DUBAN_STACK_STANDINS_PORT", BASE_PORT)),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--spool", type=Path, default=spool_path(ROOT))
    parser.add_argument(
        "--ack-base-url", default=os.environ.get("DUBAN_ACK_BASE_URL", ACK_BASE_URL)
    )
    parser.add_argument("--env", action="store_true", help="print the DUBAN_* variables and exit")
    return parser.parse_args()


def shell_lines(env: dict[str, str]) -> str:
    """`export NAME=value` for each variable not set already (for `eval`)."""
    return "\n".join(
        f'[ -n "${{{name}:-}}" ] || export {name}={shlex.quote(value)}'
        for name, value in sorted(env.items())
    )


async def serve(served: list[Served]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started: list[Served] = []
    try:
        for item in served:
            await item.fake.start()
            started.append(item)
            print(f"{item.channel:<14} {item.fake.base_url}", flush=True)
        print(f"stand-ins ready: {len(started)}", flush=True)
        await stop.wait()
    finally:
        for item in reversed(started):
            await item.fake.stop()
    print("stand-ins stopped", flush=True)


def main() -> int:
    args = _arguments()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    served = build(Spool(args.spool), args.base_port, args.ack_base_url, args.host)
    if args.env:
        print(shell_lines(environment(served, args.ack_base_url)))
        return 0
    asyncio.run(serve(served))
    return 0


if __name__ == "__main__":
    sys.exit(main())
