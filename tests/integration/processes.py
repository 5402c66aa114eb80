"""duban processes started by integration tests: are they ready, and stopping them."""

from __future__ import annotations

import subprocess

import aiohttp


async def ready(port: int) -> bool:
    """Whether the service on `port` answers /readyz with 200."""
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientError:
        return False


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
