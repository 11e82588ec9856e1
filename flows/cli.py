"""The ``parley`` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from parley.flows.alerts_cli import alerts_app
from parley.flows.cli_support import clean_errors, err, out, parse_day, show_time
from parley.flows.eval_cli import eval_command, train_command
from parley.flows.prefect_env import apply_quiet_defaults
from parley.flows.topics_cli import topics_app

app = typer.Typer(
    help="Watch news feeds for movement on negotiation topics and alert the people who follow them.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(topics_app, name="topics")
app.add_typer(alerts_app, name="alerts")
app.command("eval")(eval_command)
topics_app.command("train")(train_command)
T = TypeVar("T")
DEMO_FEEDS = (
    Path(__file__).resolve().parent.parent / "seeds" / "demo" / "feeds.yaml"
)  # as SEEDS_DIR


PREFECT_PROBLEMS = ("Failed to reach API", "No Prefect API URL provided")


def _run(coro_fn: Callable[[], T]) -> T:
    """Run a flow; config errors and an unreachable Prefect API end in one clear line."""
    with clean_errors():
        try:
            return coro_fn()
        except (RuntimeError, ValueError) as exc:
            message = " ".join(str(exc).split())
            if not message.startswith(PREFECT_PROBLEMS):
                raise
            err.print(f"[bold red]error:[/] Prefect: {message}", markup=True)
            raise typer.Exit(3) from None


def _preflight(
    feeds_file: Path | None = None, base_url: str | None = None, **overrides: object
) -> None:
    """Load every config file and open the store before any flow starts, so that a mistake
    is one clear line here rather than a failed flow run."""
    from parley.flows.pipeline.startup import check_start
    from parley.flows.settings import load_settings

    def check() -> None:
        # An unreachable database or Prefect API also sends one health alert per outage.
        settings = load_settings(**overrides)
        check_start(settings, os.environ, _prefect_api_url(), feeds_file=feeds_file,
                    base_url=base_url)  # fmt: skip

    _run(check)


def _prefect_api_url() -> str | None:
    """PREFECT_API_URL as Prefect sees it (environment, profile or prefect.toml)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


@app.command()
def init() -> None:
    """Create the database tables and check the feeds, topics and channels files."""
    from parley.alerts.channel_file import file_routes
    from parley.flows.pipeline.cycle import open_runtime
    from parley.flows.settings import load_settings
    from parley.storage.db import safe_url

    with clean_errors():
        settings = load_settings()
        runtime = open_runtime(settings)
    out.print(f"database ready: {safe_url(settings.database_url)}")
    out.print(f"feeds: {len(runtime.feeds)} in {settings.feeds_file}")
    out.print(f"topics: {len(runtime.pipeline.matcher.topics)} in {settings.topics_file}")
    names = ", ".join(c.name for c in runtime.channels)
    out.print(f"channels: {names} ({settings.channels_file or 'default: terminal'})")
    for route in file_routes(runtime.channels):
        mode = f" ({route.mode})" if route.mode else ""
        out.print(f"route {route.name}: {', '.join(sorted(route.kinds))} → "
                  f"{', '.join(route.channels)}{mode}")  # fmt: skip
    runtime.engine.dispose()


db_app = typer.Typer(
    help="The database schema: which revision it is at, and upgrading it.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema to the newest revision (every command also does this when it starts)."""
    from parley.flows.settings import load_settings
    from parley.storage.db import init_db, make_engine, safe_url

    with clean_errors():
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            done = init_db(engine)
        finally:
            engine.dispose()
    where = safe_url(settings.database_url)
    if not done.changed:
        out.print(f"database {where}: already at {done.after.describe()}", markup=False)
        return
    if done.before.legacy:
        out.print(f"database {where}: tables made before migrations adopted", markup=False)
    start = ", ".join(done.before.current) or "empty"
    out.print(f"database {where}: upgraded from {start} to {done.after.describe()}", markup=False)


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision the database is at, and whether it is the newest."""
    from parley.flows.settings import load_settings
    from parley.storage.db import make_engine, safe_url, schema_state

    with clean_errors():
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            state = schema_state(engine)
        finally:
            engine.dispose()
    out.print(f"database {safe_url(settings.database_url)}: {state.describe()}", markup=False)
    if not state.up_to_date:
        raise typer.Exit(1)


@app.command()
def run(
    deliver: Annotated[bool, typer.Option(help="Send due alerts after the cycle.")] = True,
    force: Annotated[bool, typer.Option(help="Fetch feeds even before their interval.")] = False,
    feeds: Annotated[
        Path | None, typer.Option(help="Feeds file (default PARLEY_FEEDS_FILE).")
    ] = None,
) -> None:
    """Run one monitor cycle now."""
    _preflight(feeds)
    from parley.flows.monitor import monitor

    feeds_file = str(feeds) if feeds else None
    report = _run(lambda: asyncio.run(monitor(feeds_file=feeds_file, deliver=deliver, force=force)))
    print_report_footer(report)


def print_report_footer(report: object) -> None:
    from parley.flows.pipeline.report import CycleReport

    assert isinstance(report, CycleReport)
    for outcome in report.failures:
        err.print(f"feed error: {outcome.feed_name}: {outcome.error}")
    out.print(report.summary_line())


@app.command("deliver")
def deliver_cmd() -> None:
    """Send the alerts that are due (pending and past their retry time)."""
    _preflight()
    from parley.flows.deliver import deliver

    report = _run(deliver)
    out.print(f"delivery: {report.sent} sent, {report.failed} failed, {report.dead} dead")
    for error in report.errors:
        err.print(f"send error: {error}")


@app.command("digest")
def digest_cmd() -> None:
    """Send the digest channels their digest now (one message each, by topic and story)."""
    _preflight()
    from parley.flows.digest import digest

    report = _run(digest)
    out.print(f"digest: {report.sent} sent ({report.alerts} alerts), {report.failed} failed")
    for error in report.errors:
        err.print(f"send error: {error}")


@app.command()
def feeds() -> None:
    """Show each feed's status: last fetch, errors, failures in a row."""
    from parley.flows.pipeline.cycle import open_runtime
    from parley.flows.settings import load_settings
    from parley.storage.db import session_scope
    from parley.storage.feeds import all_feeds

    with clean_errors():
        settings = load_settings()
        runtime = open_runtime(settings)
        with session_scope(runtime.engine) as session:
            rows = all_feeds(session)
    table = Table("id", "feed", "tier", "lang", "last fetch", "status", "fails", "error")
    for feed in rows:
        when = show_time(feed.last_fetch_at, settings.zone) if feed.last_fetch_at else "never"
        name = feed.name if feed.active else f"{feed.name} (inactive)"
        table.add_row(str(feed.id), name, feed.tier, feed.language, when,
                      feed.last_status or "-", str(feed.failures_in_row), feed.last_error or "")  # fmt: skip
    out.print(table)
    runtime.engine.dispose()


@app.command()
def backfill(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Feed URLs (their archive pages too), feed files, .jsonl dumps."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="Start date (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="End date, exclusive.")] = None,
    apply: Annotated[bool, typer.Option(help="Record the matches found (no alerts).")] = False,
    send: Annotated[bool, typer.Option(help="Record the matches and queue their alerts.")] = False,
    jsonl: Annotated[
        list[Path] | None,
        typer.Option(help="A JSON Lines dump to ingest, whatever its name (repeatable)."),
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="Start over instead of resuming an interrupted run.")
    ] = False,
    max_pages: Annotated[
        int, typer.Option(min=1, help="Archive pages to read per feed URL at most.")
    ] = 50,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Dump lines stored per transaction.")
    ] = 500,
) -> None:
    """Ingest feed URLs (following their archives back to --since), feed files and JSON Lines
    dumps; or re-match stored items over a date range (a dry run unless --apply or --send)."""
    _preflight()
    from parley.flows.backfill import backfill as backfill_flow

    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    try:
        report = _run(lambda: asyncio.run(backfill_flow(
            sources=list(sources or []), since=start, until=end, apply=apply or send, send=send,
            dumps=[str(p) for p in jsonl or []], restart=restart, max_pages=max_pages,
            batch_size=batch_size, show_progress=True,
        )))  # fmt: skip
    except (KeyboardInterrupt, asyncio.CancelledError):
        out.print()
        err.print("interrupted: what was stored is kept; the same command resumes from there")
        raise typer.Exit(130) from None
    for problem in report.problems:
        err.print(f"error: {problem}", markup=False)
    out.print(report.render(), markup=False)


entries_app = typer.Typer(
    help="Stored entries: one item with its revisions, matches and stories.",
    no_args_is_help=True,
)
app.add_typer(entries_app, name="entries")


@entries_app.command("show")
def entries_show(
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry's id.")],
) -> None:
    """One entry: feed, link, times, its revisions with what changed, its matches and stories."""
    from parley.flows.reports.entry import format_entry, load_entry
    from parley.flows.settings import load_settings
    from parley.storage.db import init_db, make_engine, session_scope

    with clean_errors():
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            init_db(engine)
            with session_scope(engine) as session:
                report = load_entry(session, entry_id)
                lines = format_entry(report, settings.zone) if report is not None else []
        finally:
            engine.dispose()
    if report is None:
        err.print(f"[bold red]error:[/] no entry with id {entry_id}", markup=True)
        raise typer.Exit(2)
    for line in lines:
        out.print(line, markup=False)


@app.command()
def timeline(
    topic: Annotated[str, typer.Argument(help="Topic key (see `parley topics list`).")],
    since: Annotated[str | None, typer.Option(help="Start date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="End date, exclusive.")] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for timeline-TOPIC.png and .html.")
    ] = Path("data", "timeline"),
) -> None:
    """A topic's stories over time: a table here, a chart (PNG) and a page (HTML) in --out."""
    from rich.markup import escape

    from parley.flows.reports.timeline import load_timeline, table_lines, write_timeline
    from parley.flows.settings import load_settings
    from parley.flows.topics.load import load_topics
    from parley.storage.db import init_db, make_engine, session_scope

    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    with clean_errors():
        settings = load_settings()
        names = {t.key: t.name for t in load_topics(settings.topics_file)}
        if topic not in names:
            known = ", ".join(sorted(names)) or "none"
            err.print(f"[bold red]error:[/] unknown topic {escape(repr(topic))}: not in "
                      f"{escape(str(settings.topics_file))} (topics: {escape(known)})",
                      markup=True)  # fmt: skip
            raise typer.Exit(2)
        engine = make_engine(settings.database_url)
        try:
            init_db(engine)
            with session_scope(engine) as session:
                report = load_timeline(session, topic, names[topic], start, end, settings.zone)
        finally:
            engine.dispose()
    try:
        png, page = write_timeline(report, out_dir)
    except OSError as exc:
        err.print(f"[bold red]error:[/] cannot write to {escape(str(out_dir))}: "
                  f"{escape(exc.strerror or str(exc))}", markup=True)  # fmt: skip
        raise typer.Exit(2) from None
    for line in table_lines(report):
        out.print(line, markup=False)
    out.print(f"wrote {png} and {page}", markup=False)


@app.command()
def serve(
    interval: Annotated[int | None, typer.Option(help="Seconds between monitor runs.")] = None,
) -> None:
    """Run the monitor on a schedule (and deliver every minute) until stopped."""
    from parley.flows.serve import serve_forever

    _run(lambda: serve_forever(interval))


@app.command()
def demo(
    pause: Annotated[float, typer.Option(help="Seconds to wait between steps.")] = 0.0,
) -> None:
    """Serve the bundled demo feeds on loopback and step through their snapshots."""
    # Prefect reads its home when it loads: the demo keeps its state under ./data.
    home = Path("data", "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    _preflight(DEMO_FEEDS, "http://127.0.0.1/", channels_file=None, database_url="sqlite://")
    from parley.flows.demo import run_demo

    _run(lambda: run_demo(out, pause=pause))


def main() -> None:
    apply_quiet_defaults()
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
