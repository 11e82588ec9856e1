"""``parley alerts``: the outbox — list it, show one alert with its attempts, requeue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from parley.flows.cli_support import clean_errors, err, out, show_time

alerts_app = typer.Typer(
    help="The alert outbox: pending, sent and dead alerts.", invoke_without_command=True
)


@alerts_app.callback()
def alerts_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, sent or dead.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
) -> None:
    """List the outbox, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from parley.flows.settings import load_settings
    from parley.storage import attempts, outbox
    from parley.storage.db import init_db, make_engine, session_scope

    with clean_errors():
        settings = load_settings()
        engine = make_engine(settings.database_url)
        init_db(engine)
        with session_scope(engine) as session:
            rows = outbox.list_alerts(session, status, limit)
            totals = outbox.counts(session)
            last = attempts.latest(session, [row.id for row in rows if row.id is not None])
    table = Table("id", "created", "channel", "status", "tries", "alert", "last result")
    for row in rows:
        result = _attempt_summary(last[row.id], row.last_error) if row.id in last else ""
        result = result or row.last_error or ""
        table.add_row(str(row.id), show_time(row.created_at, settings.zone), row.channel,
                      row.status, str(row.attempts), row.title, result)  # fmt: skip
    out.print(table)
    out.print(", ".join(f"{n} {s}" for s, n in sorted(totals.items())) or "the outbox is empty")
    engine.dispose()


@alerts_app.command("show")
def alerts_show(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="Outbox row id.")],
) -> None:
    """Show one alert of the outbox and every attempt to send it, service by service."""
    from parley.flows.settings import load_settings
    from parley.storage import attempts, outbox
    from parley.storage.db import init_db, make_engine, session_scope
    from parley.storage.models import OutboxAlert

    with clean_errors():
        settings = load_settings()
        engine = make_engine(settings.database_url)
        init_db(engine)
        with session_scope(engine) as session:
            row = session.get(OutboxAlert, alert_id)
            tries = attempts.of_row(session, alert_id)
    engine.dispose()
    if row is None:
        err.print(f"[bold red]error:[/] no alert with id {alert_id} in the outbox", markup=True)
        raise typer.Exit(1)
    zone = settings.zone
    fields = [
        ("alert", row.title),
        ("channel", row.channel),
        ("status", row.status + (f" (bundle {row.bundle_id})" if row.bundle_id else "")),
        ("topic", f"{', '.join(outbox.row_topics(row.topic_key))} · {row.kind} · {row.severity}"),
        ("created", show_time(row.created_at, zone)),
        ("sent", show_time(row.sent_at, zone) if row.sent_at else "-"),
        ("next try", show_time(row.next_attempt_at, zone) if row.status == "pending" else "-"),
        ("tries", str(row.attempts)),
        ("last error", row.last_error or "-"),
    ]
    for label, value in fields:
        out.print(f"{label + ':':<12} {value}")
    if not tries:
        out.print("no send attempts yet")
        return
    for target in dict.fromkeys(attempt.target for attempt in tries):
        out.print(f"{'sent to:':<12} {target}")
    table = Table("when", "result", "http", "service", "ms", "detail")
    for attempt in tries:
        table.add_row(show_time(attempt.attempted_at, zone), attempt.status,
                      str(attempt.http_status or "-"), attempt.service,
                      str(attempt.duration_ms), attempt.detail)  # fmt: skip
    out.print(table)


def _attempt_summary(attempt: object, last_error: str | None) -> str:
    """``failure · HTTP 500 · JSON: channel 'desk' (…): …`` for the alerts list."""
    from parley.storage.models import DeliveryAttempt

    assert isinstance(attempt, DeliveryAttempt)
    parts = [attempt.status]
    if attempt.http_status is not None:
        parts.append(f"HTTP {attempt.http_status}")
    text = " · ".join([*parts, attempt.service])
    reason = (last_error or attempt.detail) if not attempt.ok else ""
    return text + (f": {reason}" if reason else "")


@alerts_app.command("retry")
def alerts_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Outbox row ids.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Requeue every dead row.")] = False,
) -> None:
    """Put failed or dead alerts back in the queue to be sent at the next delivery."""
    from parley.flows.settings import load_settings
    from parley.storage import outbox
    from parley.storage.db import init_db, make_engine, session_scope

    with clean_errors():
        engine = make_engine(load_settings().database_url)
        init_db(engine)
        with session_scope(engine) as session:
            targets = list(ids or [])
            if dead:
                targets += [r.id for r in outbox.list_alerts(session, outbox.DEAD, 10_000) if r.id]
            now = datetime.now(UTC)
            done = [row_id for row_id in targets if outbox.requeue(session, row_id, now)]
    out.print(f"requeued {len(done)} alert(s)")
    engine.dispose()
