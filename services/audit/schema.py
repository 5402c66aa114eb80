"""Versioned schema: numbered SQL files in migrations/, each applied once, in order.

`schema_version` records what is applied. Replicas starting together take an advisory
lock, so each file runs exactly once; a file runs in one transaction with its record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from psycopg import AsyncConnection

MIGRATIONS = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK = 7_310_017  # pg_advisory_lock key of the migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str


def migrations(folder: Path = MIGRATIONS) -> list[Migration]:
    """The migration files in version order; a misnamed or duplicate one is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: migration names look like 001_name.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"{path}: version {version} twice")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(conn: AsyncConnection, folder: Path = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet applied; returns their names."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.commit()
        cursor = await conn.execute("SELECT version FROM schema_version")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in migrations(folder):
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.text.encode())
                await conn.execute(
                    "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
        await conn.commit()
    return applied
