"""Fixtures of the audit trail's integration tests: a PostgreSQL database of their own
(created for the test, dropped after), settings pointing at it, and trail look-ups."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import AsyncConnection
from pydantic import SecretStr

from services.settings import Settings
from tests.stack import REPO_ROOT
from tests.stack import LocalStack as StackInfo

SCREENSHOTS = REPO_ROOT / ".stack" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def audit_dsn(stack: StackInfo) -> Iterator[str]:
    """A fresh database for this test (its name unique to the run)."""
    name = f"duban_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    yield _with_database(stack.postgres_url, name)
    with psycopg.connect(stack.postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def audit_settings(settings: Settings, audit_dsn: str) -> Settings:
    """The test's settings with its own trail database, consumer group and console port."""
    return settings.model_copy(
        update={
            "audit_dsn": SecretStr(audit_dsn),
            "audit_group": f"audit-{uuid.uuid4().hex[:8]}",
            "console_port": free_port(),
        }
    )


@pytest.fixture
async def trail(audit_dsn: str) -> AsyncIterator[AsyncConnection]:
    """A connection to the test's trail database."""
    conn = await AsyncConnection.connect(audit_dsn, autocommit=True)
    yield conn
    await conn.close()


async def count(conn: AsyncConnection, where: str = "true", *params: object) -> int:
    """Rows of the trail matching `where`; 0 while the schema is not there yet."""
    exists = await (await conn.execute("SELECT to_regclass('audit_row') IS NOT NULL")).fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute(f"SELECT count(*) FROM audit_row WHERE {where}".encode(), params)
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name
