"""duban replicas as real processes (`duban run engine|notifier`), to kill, freeze and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.stack import REPO_ROOT

DUBAN = Path(sys.executable).parent / "duban"


@dataclass
class Replica:
    """One `duban run <service>` process; restarted with the same ports and environment."""

    name: str
    service: str  # engine or notifier
    port: int  # its health and metrics port
    config: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    frozen: bool = False

    def start(self) -> None:
        variable = "METRICS_PORT" if self.service == "engine" else "NOTIFIER_METRICS_PORT"
        env = {**self.env, f"DUBAN_{variable}": str(self.port)}
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(DUBAN), "run", self.service, "--config", str(self.config)],
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1
        self.frozen = False

    def kill(self) -> None:
        """kill -9: no graceful stop, no offset commit, no leaving the group."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def freeze(self) -> None:
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.process is not None and self.frozen:
            os.kill(self.process.pid, signal.SIGCONT)
            self.frozen = False

    def stop(self) -> None:
        """SIGTERM (after a thaw), then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def ready(self) -> bool:
        """/readyz answers 200: Kafka and Redis answer and the consumer has partitions."""
        if not self.alive or self.frozen:
            return False
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
                session.get(f"http://127.0.0.1:{self.port}/readyz") as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


@dataclass
class Fleet:
    """Two engines and two notifiers sharing one config folder and one environment."""

    replicas: list[Replica] = field(default_factory=list)

    @classmethod
    def build(cls, config: Path, env: dict[str, str], logs: Path, ports: list[int]) -> Fleet:
        logs.mkdir(parents=True, exist_ok=True)
        names = [("engine-1", "engine"), ("engine-2", "engine")]
        names += [("notifier-1", "notifier"), ("notifier-2", "notifier")]
        replicas = [
            Replica(name, service, port, config, env, logs / f"{name}.log")
            for (name, service), port in zip(names, ports, strict=True)
        ]
        return cls(replicas)

    def start(self) -> None:
        for replica in self.replicas:
            replica.start()

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()

    async def all_ready(self) -> bool:
        for replica in self.replicas:
            if not await replica.ready():
                return False
        return True

    def unexpected_exits(self) -> list[str]:
        """Replicas that exited by themselves (not killed by the harness)."""
        return [
            r.name
            for r in self.replicas
            if r.process is not None and r.process.poll() not in (None, -signal.SIGKILL)
        ]


def free_ports(count: int) -> list[int]:
    import socket

    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def base_env() -> dict[str, str]:
    """The harness's environment without any DUBAN_ variable of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
