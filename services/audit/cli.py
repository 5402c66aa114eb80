"""`duban trace ID` and `duban audit verify|export|migrate` (registered in services/cli.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer
from psycopg import AsyncConnection, OperationalError

from services.audit import export as exporting
from services.audit import formats
from services.audit.html import Page, evidence_sheet
from services.audit.naming import Naming, naming
from services.audit.reader import Verdict, digests_of, notices_between, people, verify_trail
from services.audit.schema import migrate
from services.audit.tracing import NoTrail, require_trail, trace
from services.clock import SystemClock
from services.config.positions import ConfigError
from services.masking import mask
from services.settings import Settings, SettingsError
from services.store.client import redis_client

T = TypeVar("T")
audit_app = typer.Typer(help="The audit trail on PostgreSQL.", no_args_is_help=True)
ConfigDir = Annotated[Path, typer.Option("--config", help="Config folder.")]
DEFAULT_CONFIG = Path("deploy/config/example")
Output = Annotated[Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")]


def _settings(ctx: typer.Context, config: Path) -> Settings:
    try:
        return Settings.from_env(config, ctx.obj)
    except SettingsError as e:
        typer.echo(mask(f"设置有误 (invalid setting): {e}"), err=True)
        raise typer.Exit(1) from e


def _naming(config: Path) -> Naming:
    try:
        return naming(config)
    except ConfigError as e:
        typer.echo(mask(str(e)), err=True)
        raise typer.Exit(1) from e


def _with_db(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` on a connection to the trail; clear messages when it is not there."""

    async def run() -> T:
        dsn = settings.audit_dsn.get_secret_value()
        async with await AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5) as c:
            return await work(c)

    try:
        return asyncio.run(run())
    except OperationalError as e:
        typer.echo(mask(f"无法连接审计库 (PostgreSQL, DUBAN_AUDIT_DSN): {e}"), err=True)
        raise typer.Exit(2) from e
    except NoTrail as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from e


def _emit(text: str | bytes, output: Path | None) -> None:
    if output is None:
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text)
        return
    output.write_bytes(text if isinstance(text, bytes) else text.encode())
    typer.echo(f"已写入 {output}", err=True)


def trace_command(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="A hazard, task, unit or notice id.")],
    format: Annotated[
        Literal["text", "json", "csv", "html"], typer.Option("--format", help="Output format.")
    ] = "text",
    unmasked: Annotated[bool, typer.Option("--unmasked", help="Show full contacts.")] = False,
    config: ConfigDir = DEFAULT_CONFIG,
    output: Output = None,
) -> None:
    """The whole story of one subject, in time order, with what is planned next."""
    settings, names = _settings(ctx, config), _naming(config)
    now = SystemClock().now()

    async def work(conn: AsyncConnection) -> str:
        redis = redis_client(settings, socket_connect_timeout=2)
        try:
            story, _ = await trace(conn, redis, names, subject, now, unmasked)
        finally:
            await redis.aclose()
        zone = names.rules.timing.zone
        if format == "json":
            return formats.as_json(story)
        if format == "csv":
            return formats.as_csv(story, zone)
        if format == "html":
            page = Page(names.office, zone, names.rules.timing.calendar, now)
            return evidence_sheet(story, page)
        return formats.as_text(story, zone)

    _emit(_with_db(settings, work), output)


@audit_app.command("verify")
def verify_command(
    ctx: typer.Context,
    subject: Annotated[str | None, typer.Option("--subject", help="Only this subject.")] = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Recompute every row's hash; exit 1 naming each altered, removed or reordered row."""
    settings = _settings(ctx, config)

    async def work(conn: AsyncConnection) -> Verdict:
        await require_trail(conn)
        return await verify_trail(conn, subject)

    verdict = _with_db(settings, work)
    for problem in verdict.problems:
        typer.echo(f"篡改 (tampered): {problem}", err=True)
    if verdict.problems:
        typer.echo(f"审计记录校验失败：{len(verdict.problems)} 处问题", err=True)
        raise typer.Exit(1)
    typer.echo(f"审计记录完好：{verdict.rows} 行，{verdict.people} 个联系人版本 (trail intact)")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"日期写成 YYYY-MM-DD，例如 2026-09-01（不是 {text!r}）") from None


@audit_app.command("export")
def export_command(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")],
    format: Annotated[Literal["csv", "xlsx"], typer.Option("--format")] = "csv",
    department: Annotated[str | None, typer.Option("--department")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    unmasked: Annotated[bool, typer.Option("--unmasked", help="Full mobiles, emails.")] = False,
    config: ConfigDir = DEFAULT_CONFIG,
    output: Output = None,
) -> None:
    """Every notice of the period with its outcome per recipient and channel."""
    settings, names = _settings(ctx, config), _naming(config)
    zone = names.rules.timing.zone
    first, last = _day(start), _day(end)
    if last < first:
        raise typer.BadParameter("--to 早于 --from (--to is before --from)")
    since = datetime.combine(first, time(), zone)
    until = datetime.combine(last + timedelta(days=1), time(), zone)
    keep = exporting.Filter(names.department_ids(department) if department else (), region)

    async def work(conn: AsyncConnection) -> list[dict[str, str]]:
        await require_trail(conn)
        rows = await notices_between(conn, since, until)
        found = await people(conn, digests_of(rows))
        return exporting.outcome_rows(rows, found, zone, keep, names.label, unmasked)

    lines = _with_db(settings, work)
    data = exporting.as_xlsx(lines) if format == "xlsx" else exporting.as_csv(lines)
    _emit(data, output)
    typer.echo(f"共 {len(lines)} 行 ({len(lines)} rows)", err=True)


@audit_app.command("migrate")
def migrate_command(ctx: typer.Context, config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Apply the trail's schema migrations (the audit service also does at start)."""
    settings = _settings(ctx, config)
    applied = _with_db(settings, migrate)
    typer.echo("已应用 " + ", ".join(applied) if applied else "审计库结构已是最新 (up to date)")
