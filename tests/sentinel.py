"""A Redis primary, one replica and three sentinels of a test's own, in a folder of its own.

Tests (and the chaos run) that kill the Redis primary start their own set with
`SentinelSet`, on free ports unless told which, and stop it afterwards: nothing is left
running, and the shared stack's Redis is never touched.

    async with SentinelSet(tmp_path / "sentinel") as ha:
        settings = settings.model_copy(update=ha.settings_update(db=1))
        ...                                   # run duban against ha
        old = await ha.kill_primary()         # kill -9 of whichever node is primary now
        new = await ha.wait_failover(old)     # the sentinels promoted the replica
        await ha.restart(old)                 # the old primary comes back, as a replica
        await ha.wait_replicas(1)             # the new primary takes writes again

Both nodes run with AOF (`appendfsync` as given, everysec by default) and
`min-replicas-to-write 1`, `min-replicas-max-lag 10`: a primary without a replica that
follows refuses writes (NOREPLICAS), which is why a test restarts the killed node.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.stack import wait_until_async

Check = Callable[[], Awaitable[Any]]

HOST = "127.0.0.1"
QUORUM = 2


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class SentinelPorts:
    """Where the two Redis nodes and the three sentinels listen."""

    primary: int
    replica: int
    sentinels: tuple[int, int, int]

    @classmethod
    def free(cls) -> SentinelPorts:
        """Five ports nothing listens on now."""
        return cls(free_port(), free_port(), (free_port(), free_port(), free_port()))


@dataclass
class SentinelSet:
    """Two Redis nodes (the first one starts as primary) watched by three sentinels."""

    home: Path
    ports: SentinelPorts = field(default_factory=SentinelPorts.free)
    master: str = "duban-test"
    fsync: str = "everysec"
    down_after_ms: int = 1000
    failover_timeout_ms: int = 5000
    min_replicas_to_write: int = 1
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def nodes(self) -> tuple[int, int]:
        return (self.ports.primary, self.ports.replica)

    @property
    def sentinels(self) -> str:
        """DUBAN_REDIS_SENTINELS for this set: "127.0.0.1:port,...", three of them."""
        return ",".join(f"{HOST}:{port}" for port in self.ports.sentinels)

    def settings_update(self, db: int = 0) -> dict[str, Any]:
        """Settings fields that point duban at this set (a `model_copy(update=...)`)."""
        url = f"redis://{HOST}:{self.ports.primary}/{db}"  # only the db counts here
        return {"redis_url": url, "redis_sentinels": self.sentinels, "redis_master": self.master}

    async def start(self) -> None:
        """Both nodes up and linked, then the sentinels, each seeing the others."""
        for port in self.nodes:
            self._write_node_config(port)
            await self._start_node(port)
        await self.wait_replicas(1)
        for port in self.ports.sentinels:
            self._write_sentinel_config(port)
            self._spawn(port, ["--sentinel"])
        await _until(self._sentinels_agree, 30, "three sentinels that see each other")

    def stop(self) -> None:
        """Every process of the set gone (SIGKILL: the folder is thrown away)."""
        for process in self.processes.values():
            _kill9(process)
        self.processes.clear()

    async def __aenter__(self) -> SentinelSet:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def primary(self) -> int:
        """The port of the primary, as the first sentinel that answers tells it."""
        for port in self.ports.sentinels:
            named = await self._named_by(port)
            if named is not None:
                return named
        raise RuntimeError(f"no sentinel of {self.sentinels} names a primary")

    async def kill_primary(self) -> int:
        """kill -9 of the node that is primary now; its port."""
        port = await self.primary()
        _kill9(self.processes.pop(port))
        return port

    async def wait_failover(self, old: int, timeout_s: float = 30) -> int:
        """Wait until every sentinel names another primary than `old` and that node says it
        is a master; its port."""

        async def promoted() -> int | None:
            named = {await self._named_by(port) for port in self.ports.sentinels}
            if len(named) != 1 or None in named or old in named:
                return None
            [new] = named
            assert new is not None
            return new if await _role(new) == "master" else None

        new: int = await _until(promoted, timeout_s, "a sentinel failover")
        return new

    async def replica(self) -> int:
        """The port of the node that is not the primary now."""
        primary = await self.primary()
        return next(port for port in self.nodes if port != primary)

    def kill(self, port: int) -> None:
        """kill -9 of one node (the primary or the replica)."""
        _kill9(self.processes.pop(port))

    def pause(self, port: int) -> None:
        """SIGSTOP a node: it neither answers nor replicates until `resume`."""
        os.kill(self.processes[port].pid, signal.SIGSTOP)

    def resume(self, port: int) -> None:
        """SIGCONT a node paused with `pause`."""
        os.kill(self.processes[port].pid, signal.SIGCONT)

    async def restart(self, port: int) -> None:
        """Start a killed node again (from its AOF); the sentinels make it a replica."""
        await self._start_node(port)

    async def wait_replicas(self, count: int = 1, timeout_s: float = 60) -> None:
        """Wait until the primary has `count` replicas online and in sync."""

        async def linked() -> bool:
            async with Redis(host=HOST, port=await self._a_primary(), socket_timeout=1) as node:
                info = await node.info("replication")
            online = [v for k, v in info.items() if k.startswith("slave") and _online(v)]
            return info.get("role") == "master" and len(online) >= count

        await _until(linked, timeout_s, f"{count} replica(s) online")

    async def _a_primary(self) -> int:
        """The primary per the sentinels once they run, else the node started as primary."""
        running = [p for p in self.ports.sentinels if p in self.processes]
        return await self.primary() if running else self.ports.primary

    async def _named_by(self, sentinel: int) -> int | None:
        """The primary's port as one sentinel names it; None if it does not answer."""
        try:
            async with Redis(host=HOST, port=sentinel, socket_timeout=1) as client:
                address = await client.sentinel_get_master_addr_by_name(self.master)
        except (OSError, RedisError):
            return None
        return int(address[1]) if isinstance(address, tuple | list) else None

    async def _sentinels_agree(self) -> bool:
        for port in self.ports.sentinels:
            async with Redis(host=HOST, port=port, socket_timeout=1) as sentinel:
                state = await sentinel.sentinel_master(self.master)
            if not isinstance(state, dict):
                return False
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                return False
        return True

    async def _start_node(self, port: int) -> None:
        self._spawn(port, [])
        await _until(lambda: _pong(port), 30, f"redis on port {port}")

    def _spawn(self, port: int, extra: list[str]) -> None:
        folder = self.home / str(port)
        log = (folder / "stdout.log").open("ab")
        self.processes[port] = subprocess.Popen(
            ["redis-server", str(folder / "redis.conf"), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the test run does not reach it first
        )
        log.close()

    def _write_node_config(self, port: int) -> None:
        folder = self.home / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            *_common(port, folder),
            "appendonly yes",
            f"appendfsync {self.fsync}",
            'save ""',
            f"min-replicas-to-write {self.min_replicas_to_write}",
            "min-replicas-max-lag 10",
            "repl-diskless-sync-delay 0",  # a (re)joining replica syncs at once
        ]
        if port != self.ports.primary:
            lines.append(f"replicaof {HOST} {self.ports.primary}")
        (folder / "redis.conf").write_text("\n".join(lines) + "\n")

    def _write_sentinel_config(self, port: int) -> None:
        folder = self.home / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        name = self.master
        lines = [
            *_common(port, folder),
            f"sentinel monitor {name} {HOST} {self.ports.primary} {QUORUM}",
            f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
            f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
        ]
        (folder / "redis.conf").write_text("\n".join(lines) + "\n")


async def _until(condition: Check, timeout_s: float, what: str) -> Any:
    """What `condition` returned once it was truthy; TimeoutError naming `what`."""
    return await wait_until_async(condition, timeout_s=timeout_s, what=what)


def _common(port: int, folder: Path) -> list[str]:
    return [
        f"bind {HOST}",
        f"port {port}",
        "daemonize no",
        f"dir {folder}",
        f"logfile {folder / 'redis.log'}",
    ]


def _online(replica: object) -> bool:
    return isinstance(replica, dict) and replica.get("state") == "online"


async def _role(port: int) -> str | None:
    try:
        async with Redis(host=HOST, port=port, socket_timeout=1) as node:
            role = await node.role()
    except OSError:
        return None
    name = role[0]
    return name.decode() if isinstance(name, bytes) else str(name)


async def _pong(port: int) -> bool:
    async with Redis(host=HOST, port=port, socket_timeout=1) as node:
        return bool(await node.ping())


def _kill9(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
