"""The real local stack (Kafka, Redis, SMTP catcher) for the test session.

`ensure_stack()` checks whether deploy/local/stack.sh's stack is healthy and runs
`stack.sh up` when it is not (which may take a minute the very first time on a new
machine: apt-get install of redis-server and a Maven download of the Kafka jars).
It returns where the parts listen. Typical use from tests/integration/conftest.py:

    from tests.stack import LocalStack, ensure_stack

    @pytest.fixture(scope="session")
    def stack() -> LocalStack:
        return ensure_stack()

The stack is left running afterwards: it is shared with `make run` and with the
next test session, and `up` of a running stack takes well under a second.

Ports follow the same DUBAN_STACK_* environment variables as stack.sh.
`wait_until()` / `wait_until_async()` are the tests' way to wait for something:
poll a condition with a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
STACK_SCRIPT = REPO_ROOT / "deploy" / "local" / "stack.sh"
STACK_DIR = REPO_ROOT / ".stack"
HOST = "127.0.0.1"

T = TypeVar("T")


class StackError(RuntimeError):
    """The local stack could not be brought up."""


@dataclass(frozen=True)
class LocalStack:
    kafka_bootstrap: str
    redis_url: str
    smtp_host: str
    smtp_port: int
    # Where the SMTP catcher writes one .eml per message and recipient.
    mail_dir: Path
    # PostgreSQL (the audit trail), database `duban`; tests create their own databases.
    postgres_url: str = f"postgresql://duban@{HOST}:5433/duban"

    def mail_files(self, recipient: str | None = None) -> list[Path]:
        """Caught messages, oldest first (file names start with a UTC timestamp)."""
        pattern = f"*_{recipient}.eml" if recipient else "*.eml"
        return sorted(self.mail_dir.glob(pattern))


def _port(var: str, default: int) -> int:
    return int(os.environ.get(var, default))


def stack_config() -> LocalStack:
    """Where the stack listens (no checks, nothing started)."""
    return LocalStack(
        kafka_bootstrap=f"{HOST}:{_port('DUBAN_STACK_KAFKA_PORT', 9092)}",
        redis_url=f"redis://{HOST}:{_port('DUBAN_STACK_REDIS_PORT', 6390)}/0",
        smtp_host=HOST,
        smtp_port=_port("DUBAN_STACK_SMTP_PORT", 1025),
        mail_dir=STACK_DIR / "mail",
        postgres_url=f"postgresql://duban@{HOST}:{_port('DUBAN_STACK_PG_PORT', 5433)}/duban",
    )


def _run_script(command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(STACK_SCRIPT), command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def stack_is_healthy() -> bool:
    """True when `stack.sh status` reports all parts up (Kafka checked with a real client)."""
    try:
        return _run_script("status", timeout_s=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def ensure_stack(up_timeout_s: float = 540) -> LocalStack:
    """Return the running local stack, starting it first if any part is not healthy.

    The default timeout leaves room for the first-ever `up` (package install and
    jar download); on a prepared machine `up` takes a few seconds.
    """
    config = stack_config()
    if not stack_is_healthy():
        try:
            result = _run_script("up", timeout_s=up_timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"`{STACK_SCRIPT} up` did not finish in {up_timeout_s:.0f}s") from exc
        if result.returncode != 0:
            raise StackError(
                f"`{STACK_SCRIPT} up` failed (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
    # stack.sh already waits for health; these cheap checks make sure what we
    # return is what listens (e.g. the env vars here match the ones it ran with).
    wait_until(lambda: _redis_pong(config), timeout_s=30, what=f"redis PONG at {config.redis_url}")
    wait_until(
        lambda: _smtp_greets(config),
        timeout_s=30,
        what=f"SMTP greeting at {config.smtp_host}:{config.smtp_port}",
    )
    wait_until(lambda: _accepts(config.postgres_url), timeout_s=30, what="PostgreSQL")
    return config


def wait_until(
    condition: Callable[[], T], timeout_s: float = 10.0, interval_s: float = 0.05, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy, and return that.

    Raises TimeoutError naming `what` (or the condition) when the deadline passes.
    Exceptions from the condition count as "not yet" until the deadline.
    """
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while True:
        try:
            value = condition()
        except Exception as exc:
            last_exc, value = exc, None
        if value:
            return value
        if time.monotonic() >= deadline:
            label = what or getattr(condition, "__name__", "condition")
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {label}{detail}")
        time.sleep(interval_s)


async def wait_until_async(
    condition: Callable[[], T | Awaitable[T]],
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
    what: str = "",
) -> T:
    """`wait_until` for async tests: does not block the event loop, and `condition`
    may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while True:
        value: T | None
        try:
            result = condition()
            value = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            last_exc, value = exc, None
        if value:
            return value
        if time.monotonic() >= deadline:
            label = what or getattr(condition, "__name__", "condition")
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {label}{detail}")
        await asyncio.sleep(interval_s)


def _redis_pong(config: LocalStack) -> bool:
    host_port = config.redis_url.removeprefix("redis://").split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def _smtp_greets(config: LocalStack) -> bool:
    with socket.create_connection((config.smtp_host, config.smtp_port), timeout=2) as sock:
        greeting = sock.recv(512)
        sock.sendall(b"QUIT\r\n")
        return greeting.startswith(b"220")


def _accepts(url: str) -> bool:
    """PostgreSQL answers a query at `url`."""
    import psycopg

    with psycopg.connect(url, connect_timeout=2) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)
