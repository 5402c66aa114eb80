"""The `duban` operator command."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from services.audit.cli import audit_app, trace_command
from services.channeltest import notify_app
from services.config.positions import ConfigError
from services.dlq import dlq_app
from services.masking import mask, register_secrets, secrets_from_env
from services.settings import Settings, SettingsError, read_environment

app = typer.Typer(
    help="督办 duban: keeps every reported work-safety hazard moving to close-out.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Check the YAML configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(dlq_app, name="dlq")
app.add_typer(notify_app, name="notify")
app.add_typer(audit_app, name="audit")
app.command("trace")(trace_command)


@app.callback()
def _read_environment(ctx: typer.Context) -> None:
    # Before any command, once: the environment every command takes its settings from
    # (ctx.obj). Secrets echoed in a provider's error or a config error are masked in
    # what the command prints (and in its log, as `run` logs).
    environment = read_environment()
    register_secrets(secrets_from_env(environment))
    ctx.obj = environment


ConfigDir = Annotated[
    Path, typer.Option("--config", help="Config folder (policies.yaml, directory.yaml, …).")
]


@app.command()
def run(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="engine, notifier, ack, audit, or all.")],
    config: ConfigDir = Path("deploy/config/example"),
) -> None:
    """Run one service (or all of them in one process) until stopped."""
    from services.runner import run_services

    try:
        settings = Settings.from_env(config, ctx.obj)
    except SettingsError as e:
        typer.echo(mask(f"设置有误 (invalid setting): {e}"), err=True)
        raise typer.Exit(1) from e
    run_services(service, settings)


@config_app.command("check")
def config_check(ctx: typer.Context, config: ConfigDir = Path("deploy/config/example")) -> None:
    """Validate every YAML file; errors name file, line and key. Exit 1 on error."""
    from services.configcheck import check_folder

    problems, warnings = check_folder(config, env=ctx.obj)
    for warning in warnings:
        typer.echo(mask(f"warning: {warning}"), err=True)
    for problem in problems:
        typer.echo(mask(f"error: {problem}"), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {config}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{config}: OK")


@app.command()
def simulate(
    events: Annotated[
        Path,
        typer.Option("--events", help="JSON Lines of v1 events (or one event's JSON)."),
    ],
    config: ConfigDir = Path("deploy/config/example"),
    until: Annotated[
        datetime | None,
        typer.Option(
            "--until",
            help="Stop the virtual clock here (default: 90 days after the last event).",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"],
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if a line of --events was skipped.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write every subject's timeline here.")
    ] = None,
) -> None:
    """Replay events on a virtual clock; print every notice as JSON Lines, and on stderr
    what the engine would log (warnings) and every skipped line."""
    from services.config.load import load_config
    from services.simulate import Rejected, dumps, read_event_file
    from services.simulate import simulate as run_simulation

    try:
        rules = load_config(config).rules()
    except ConfigError as e:
        typer.echo(mask(str(e)), err=True)
        raise typer.Exit(1) from e
    if not events.is_file():
        typer.echo(f"找不到事件文件 {events}（no such file）", err=True)
        raise typer.Exit(1)
    parsed, skipped = [], 0
    for item in read_event_file(events.read_text(encoding="utf-8")):
        if isinstance(item, Rejected):
            skipped += 1
            typer.echo(mask(f"{events}:{item.line}: {_skipped(item.line, item.reason)}"), err=True)
        else:
            parsed.append(item)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=rules.timing.zone)
    warnings: list[str] = []
    shown = []
    for notice in run_simulation(parsed, rules, until, warnings):
        sys.stdout.write(dumps(notice) + "\n")
        shown.append(notice)
    if html is not None:  # services/audit/simhtml.py
        from services.audit.simhtml import write_simulation

        write_simulation(html, shown, config, str(events))
    for warning in warnings:
        typer.echo(mask(f"提醒 (warning): {warning}"), err=True)
    if strict and skipped:
        typer.echo(
            f"{skipped} 行已跳过，按 --strict 以返回码 1 结束（{skipped} line(s) skipped）",
            err=True,
        )
        raise typer.Exit(1)


def _skipped(line: int, reason: str) -> str:
    return f"第 {line} 行已跳过，引擎运行时会把它放入死信队列：{reason}（line {line} skipped）"


def main() -> None:
    """Entry point of the console script."""
    app()
