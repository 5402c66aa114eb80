"""`duban dlq`: list dead letters and replay them once the cause is fixed.

* `notices` (duban.dlq.notices): notice.requested events no channel could deliver.
  Replaying publishes them to notice.requested again; the delivery ledger makes sure
  nothing already delivered goes out twice, so replaying twice is harmless.
* `events` (duban.dlq.events): inbound messages that failed validation, as the
  publisher sent them. Replaying publishes the same bytes to their original topic
  (header duban-original-topic), only if they now pass validation, i.e. when the
  cause was on duban's side (fixed by an upgrade or a config change). When the
  publisher sent bad data the publisher must send corrected events; replaying the
  same bytes would only dead-letter them again, so those are refused with the reason.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from services.masking import mask

if TYPE_CHECKING:
    from services.deadletters import DeadLetter
    from services.settings import Settings

dlq_app = typer.Typer(help="List and replay dead letters.", no_args_is_help=True)


class Which(StrEnum):
    """Which dead-letter topic."""

    events = "events"
    notices = "notices"


TopicOption = Annotated[
    Which, typer.Option("--topic", help="events (inbound, invalid) or notices (undeliverable).")
]


@dlq_app.command("list")
def list_letters(
    ctx: typer.Context,
    topic: TopicOption = Which.notices,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show at most N, oldest first.")
    ] = 50,
) -> None:
    """Print dead letters oldest first: position, time, reason, summary. Commits nothing."""
    from services.deadletters import summary

    settings = _settings(ctx)
    letters = _read(settings, topic)
    for letter in letters[:limit]:
        typer.echo(f"{letter.position}\t{letter.time}\t{summary(letter)}")
        typer.echo(f"\treason: {letter.reason}")
    shown = min(limit, len(letters))
    where = _topic_name(settings, topic)
    typer.echo(f"{shown} of {len(letters)} dead letter(s) in {where}", err=True)


@dlq_app.command("replay")
def replay(
    ctx: typer.Context,
    topic: TopicOption = Which.notices,
    offset: Annotated[
        str | None, typer.Option("--offset", help="PARTITION:OFFSET (or OFFSET) from `dlq list`.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Publish dead letters again (notices → notice.requested; events → original topic)."""
    from services.deadletters import DeadLetterError, plan_replay, publish_replays, select

    if (offset is None) == (not all_):
        typer.echo("give exactly one of --offset or --all", err=True)
        raise typer.Exit(2)
    settings = _settings(ctx)
    try:
        chosen = select(_read(settings, topic), offset)
    except DeadLetterError as e:
        typer.echo(mask(f"error: {e}"), err=True)
        raise typer.Exit(1) from e
    replays, refused = [], 0
    for letter in chosen:
        try:
            replays.append(plan_replay(letter, topic.value, settings.topics))
        except DeadLetterError as e:
            refused += 1
            typer.echo(mask(f"{letter.position}\tnot replayed: {e}"), err=True)
    asyncio.run(publish_replays(settings.kafka_bootstrap, replays))
    for item in replays:
        typer.echo(f"{item.letter.position}\treplayed to {item.topic}")
    typer.echo(f"{len(replays)} replayed, {refused} refused", err=True)
    if refused:
        raise typer.Exit(1)


def _read(settings: Settings, topic: Which) -> list[DeadLetter]:
    from aiokafka.errors import KafkaError

    from services.deadletters import DeadLetterError, read_dead_letters

    name = _topic_name(settings, topic)
    try:
        return asyncio.run(read_dead_letters(settings.kafka_bootstrap, name))
    except (DeadLetterError, KafkaError, OSError) as e:
        typer.echo(mask(f"error: cannot read dead letters: {e}"), err=True)
        raise typer.Exit(1) from e


def _topic_name(settings: Settings, topic: Which) -> str:
    topics = settings.topics
    return topics.dlq_events if topic is Which.events else topics.dlq_notices


def _settings(ctx: typer.Context) -> Settings:
    """Settings from the environment `duban` read at start (ctx.obj); only Kafka and the
    topic names are used, from the same DUBAN_* variables as the services'."""
    from services.settings import Settings, SettingsError

    try:
        return Settings.from_env(env=ctx.obj)
    except SettingsError as e:
        typer.echo(mask(f"设置有误 (invalid setting): {e}"), err=True)
        raise typer.Exit(1) from e
