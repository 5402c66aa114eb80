"""The chaos run's own Kafka broker and Redis server, under .stack/chaos/.

The shared stack (deploy/local/stack.sh) serves other test sessions: the chaos run kills
its broker and its Redis, so it starts its own, on other ports, from the shared stack's
Kafka jars (fetched by `stack.sh up`). Each run formats a fresh broker: no topic or
offset of an earlier run is left to slow the start.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.ha import HaRedis
from tests.integration.conftest import wait_for
from tests.stack import REPO_ROOT, STACK_DIR

KAFKA_LIBS = STACK_DIR / "kafka" / "libs"
KAFKA_LOG4J = REPO_ROOT / "deploy" / "local" / "kafka" / "log4j2.properties"
WAIT_KAFKA = REPO_ROOT / "deploy" / "local" / "wait_kafka.py"
HOST = "127.0.0.1"
REDIS_DATABASES = 32  # the chaos run uses database 19 (DUBAN_TEST_REDIS_DB's number)


@dataclass
class Ports:
    kafka: int = 19092
    controller: int = 19093
    redis: int = 16390


@dataclass
class ChaosInfra:
    """A KRaft broker and a redis-server this run may kill and restart."""

    home: Path
    fsync: str = "always"  # the AOF's appendfsync: always (as deployed) or everysec
    ports: Ports = field(default_factory=Ports)
    kafka: subprocess.Popen[bytes] | None = None
    redis: subprocess.Popen[bytes] | None = None
    ha: HaRedis | None = None  # set (by `sentinel=True`): Redis as primary, replica, sentinels
    sentinel: bool = False

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.ports.kafka}"

    def redis_env(self, db: int) -> dict[str, str]:
        """The services' Redis settings: the one server, or the sentinels of the set."""
        if self.ha is not None:
            return self.ha.env(db)
        return {"DUBAN_REDIS_URL": f"redis://{HOST}:{self.ports.redis}/{db}"}

    async def start(self) -> None:
        """Fresh data, both servers started and answering."""
        if not any(KAFKA_LIBS.glob("*.jar")):
            raise RuntimeError(f"no Kafka jars in {KAFKA_LIBS}: run `make stack-up` once first")
        shutil.rmtree(self.home, ignore_errors=True)
        (self.home / "kafka" / "data").mkdir(parents=True)
        (self.home / "redis").mkdir(parents=True)
        self._write_kafka_config()
        await self._format_kafka()
        self._write_redis_config()
        if self.sentinel:
            self.ha = HaRedis(self.home / "sentinel", self.fsync)
            await asyncio.gather(self.start_kafka(), self.ha.start())
        else:
            await asyncio.gather(self.start_kafka(), self.start_redis())

    async def start_kafka(self) -> None:
        out = (self.home / "kafka" / "kafka.out").open("ab")
        self.kafka = subprocess.Popen(
            [*_java(self.home), "kafka.Kafka", str(self.home / "kafka" / "server.properties")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        await self._wait_kafka()

    async def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", str(self.home / "redis" / "redis.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        await wait_for(
            lambda: _redis_ping(self.ports.redis), timeout_s=30, what="chaos redis to answer PING"
        )

    def kill_kafka(self) -> None:
        _kill9(self.kafka)

    def kill_redis(self) -> None:
        _kill9(self.redis)

    def stop(self) -> None:
        """Both servers gone (SIGKILL: the data is thrown away with the next run)."""
        for process in (self.kafka, self.redis):
            _kill9(process)
        if self.ha is not None:
            self.ha.stop()

    async def _wait_kafka(self) -> None:
        assert self.kafka is not None
        wait = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WAIT_KAFKA),
            "--bootstrap",
            self.bootstrap,
            "--timeout",
            "120",
            "--pid",
            str(self.kafka.pid),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        if await wait.wait() != 0:
            raise RuntimeError(f"chaos kafka did not become healthy (see {self.home}/kafka)")

    async def _format_kafka(self) -> None:
        config = str(self.home / "kafka" / "server.properties")
        # Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        output = self.home / "kafka" / "format.out"
        with output.open("wb") as out:
            formatting = await asyncio.create_subprocess_exec(
                *_java(self.home),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster,
                "-c",
                config,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
            code = await formatting.wait()
        if code != 0:
            raise RuntimeError(f"formatting the chaos broker's storage failed (see {output})")

    def _write_kafka_config(self) -> None:
        p = self.ports
        (self.home / "kafka" / "server.properties").write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers={HOST}:{p.controller}",
                    f"listeners=PLAINTEXT://{HOST}:{p.kafka},CONTROLLER://{HOST}:{p.controller}",
                    f"advertised.listeners=PLAINTEXT://{HOST}:{p.kafka}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.home / 'kafka' / 'data'}",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.num.partitions=4",
                    "group.initial.rebalance.delay.ms=0",
                    "num.partitions=4",
                    "auto.create.topics.enable=true",
                    "log.cleaner.dedupe.buffer.size=16777216",
                    "num.network.threads=2",
                    "num.io.threads=4",
                    "",
                ]
            )
        )

    def _write_redis_config(self) -> None:
        d = self.home / "redis"
        (d / "redis.conf").write_text(
            f"bind {HOST}\nport {self.ports.redis}\ndaemonize no\ndir {d}\n"
            f"logfile {d / 'redis.log'}\ndatabases {REDIS_DATABASES}\n"
            f'appendonly yes\nappendfsync {self.fsync}\nsave ""\n'
        )


def _java(home: Path) -> list[str]:
    logs = os.fspath(home / "kafka")
    return [
        "java",
        "-Xms256m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:TieredStopAtLevel=1",  # starts faster: the run restarts the broker often
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
        "-Dlog4j2.shutdownHookEnabled=false",
        f"-Dkafka.logs.dir={logs}",
        "-Dduban.kafka.log.level=WARN",
        "-cp",
        f"{KAFKA_LIBS}/*",
    ]


def _kill9(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


async def _redis_ping(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 2)).startswith(b"+PONG")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
