"""What every ``parley`` subcommand shares: the consoles, clean error lines, dates and times."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def known_errors() -> tuple[type[Exception], ...]:
    from parley.alerts.channels import ChannelError
    from parley.flows.pipeline.shard import ShardRunsFailed
    from parley.flows.topics.load import TopicError
    from parley.flows.yamlfile import ConfigError
    from parley.storage.db import StorageError

    return (ConfigError, TopicError, ChannelError, StorageError, ShardRunsFailed)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Known configuration and storage problems end the command with one clear line."""
    from pydantic import ValidationError

    try:
        yield
    except known_errors() as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "PARLEY_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        err.print(f"[bold red]error:[/] setting {name}: {first['msg']}", markup=True)
        raise typer.Exit(2) from None


def parse_day(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def show_time(when: datetime, zone: ZoneInfo) -> str:
    """``when`` in ``zone``, to the minute, with the zone's abbreviation."""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
