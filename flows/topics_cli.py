"""`parley topics …` and `parley eval`: look at the topics, try them on a text, backtest one over
stored history, and measure them against labelled cases.

Nothing here writes to the database or sends anything. Imports of parley's heavier modules stay
inside the commands so that `parley --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from parley.flows.cli_support import clean_errors, err, out, parse_day

if TYPE_CHECKING:
    from parley.flows.topics.load import Topic
    from parley.flows.topics.relevance import RelevanceMatcher

TITLE_WIDTH = 100

topics_app = typer.Typer(
    help="The topics: list them, check a text against them, backtest one over stored history.",
    no_args_is_help=True,
)

TopicsOption = Annotated[
    Path | None, typer.Option("--topics", help="Topics file (default PARLEY_TOPICS_FILE).")
]


@contextmanager
def clean() -> Iterator[None]:
    """The main command's clean error lines (exit 2), and the same for case and label files."""
    from parley.flows.topics.evaluate import EvalError

    with clean_errors():
        try:
            yield
        except EvalError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from None


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(2)


def _topics_path(topics: Path | None) -> Path:
    if topics is not None:
        return topics
    from parley.flows.settings import load_settings

    return load_settings().topics_file


def _load(topics: Path | None) -> tuple[Path, list[Topic]]:
    from parley.flows.topics.load import load_topics

    path = _topics_path(topics)
    return path, load_topics(path)


def load_matcher(
    topics: Path | None, only: Sequence[str] = (), rules_only: bool = False
) -> RelevanceMatcher:
    """The matcher the monitor runs: the topics file's rules and PARLEY_MODEL_FILE's scores.

    ``only``: keep these topic keys (unknown ones end the command, naming the topics).
    """
    from parley.flows.settings import load_settings
    from parley.flows.topics.relevance import build_matcher

    path, loaded = _load(topics)
    if only:
        known = {t.key for t in loaded}
        unknown = [key for key in only if key not in known]
        if unknown:
            names = ", ".join(t.key for t in loaded)
            raise fail(f"unknown topic {unknown[0]!r}; the topics are: {names}")
        loaded = [t for t in loaded if t.key in set(only)]
    model = None if rules_only else load_settings().model_file
    return build_matcher(loaded, path, model)


# --- parley topics list -------------------------------------------------------------------


@topics_app.command("list")
def list_topics(topics: TopicsOption = None) -> None:
    """The loaded topics: key, name, severity and the number of `any` terms per language."""
    with clean():
        path, loaded = _load(topics)
    per_language = _terms_per_language(path)
    table = Table(Column("key", no_wrap=True), "name", "severity", "terms per language",
                  "all groups", "not")  # fmt: skip
    for topic in loaded:
        counts = per_language.get(topic.key) or {"*": len(topic.any)}
        shown = "  ".join(f"{label} {n}" for label, n in counts.items())
        table.add_row(topic.key, topic.name, topic.severity, shown,
                      str(len(topic.all)), str(len(topic.none)))  # fmt: skip
    out.print(table)
    out.print(f"{len(loaded)} topics in {path}")


def _terms_per_language(path: Path) -> dict[str, dict[str, int]]:
    """key → {language or label → number of `any` terms}, read from the file's own layout.

    The loaded Topic keeps one flat list of terms, so the languages come from the YAML: `any`
    is a list (counted as "*") or a mapping language → list. Anything unexpected is skipped.
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    result: dict[str, dict[str, int]] = {}
    items = data.get("topics") if isinstance(data, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        terms: Any = item.get("any")
        if isinstance(terms, list):
            result[item["key"]] = {"*": len(terms)}
        elif isinstance(terms, dict):
            result[item["key"]] = {
                str(label): len(value) for label, value in terms.items() if isinstance(value, list)
            }
    return result


# --- parley topics check ------------------------------------------------------------------


@topics_app.command("check")
def check(
    text: Annotated[str | None, typer.Argument(help="Text to check, taken as a title.")] = None,
    title: Annotated[str | None, typer.Option(help="The title to check.")] = None,
    summary: Annotated[str | None, typer.Option(help="The summary to check.")] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl",
            help="Classify many items: JSON Lines {id, title, summary, language} ('-' reads "
            "standard input); writes {id, topics} per line.",
        ),
    ] = None,
    topics: TopicsOption = None,
) -> None:
    """Which topics a text matches, and why: the rule or learned score, terms and a quote."""
    with clean():
        matcher = load_matcher(topics)
    if jsonl is not None:
        if text is not None or title is not None or summary is not None:
            raise typer.BadParameter("give either --jsonl or a text, not both")
        with clean():
            classify_lines(matcher, jsonl)
        return
    if text is not None and title is not None:
        raise typer.BadParameter("give the title either as TEXT or as --title, not both")
    head = text if text is not None else (title or "")
    body = summary or ""
    if not (head.strip() or body.strip()):
        raise typer.BadParameter("give a text, or --title and/or --summary")
    matches = matcher.match(head, body)
    if not matches:
        out.print(f"no topic matched ({len(matcher.topics)} topics checked)")
    for m in matches:
        out.print(f"{m.topic_key} — {m.topic_name} ({m.severity})", markup=False)
        out.print(f"  rule: {m.rule}", markup=False)
        out.print(f"  terms: {', '.join(m.terms)}", markup=False)
        out.print(f"  in {m.field}: {m.snippet}", markup=False)
    matched = {m.topic_key for m in matches}
    scores = [s for s in matcher.scores(head, body) if s.key not in matched]
    if scores:
        context = "" if matcher.in_context(head, body) else " (no context term: not used)"
        shown = ", ".join(f"{s.key} {s.score:.2f}/{s.threshold:.2f}" for s in scores)
        out.print(f"learned scores of the other topics{context}: {shown}", markup=False)


def classify_lines(matcher: RelevanceMatcher, path: Path) -> None:
    """One ``{"id", "topics"}`` line per input item, in input order, as the monitor matches."""
    import json
    import sys

    from parley.flows.topics.evaluate import EvalError

    stream = sys.stdin if str(path) == "-" else None
    try:
        lines = stream.read().splitlines() if stream else path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(item, dict) or "id" not in item:
            raise EvalError(f"{where}: expected a JSON object with an 'id'")
        head, body = item.get("title") or "", item.get("summary") or ""
        if not isinstance(head, str) or not isinstance(body, str):
            raise EvalError(f"{where}: 'title' and 'summary' must be strings")
        keys = [m.topic_key for m in matcher.match(head, body)]
        sys.stdout.write(json.dumps({"id": item["id"], "topics": keys}, ensure_ascii=False))
        sys.stdout.write("\n")
    sys.stdout.flush()


# --- parley topics test -------------------------------------------------------------------


@topics_app.command("test")
def backtest(
    topic: Annotated[str, typer.Argument(help="The key of the topic to try.")],
    since: Annotated[str, typer.Option(help="Start date (YYYY-MM-DD, UTC).")],
    until: Annotated[str | None, typer.Option(help="End date, exclusive.")] = None,
    topics: TopicsOption = None,
) -> None:
    """Backtest one topic over stored history: what it would have alerted. Writes and sends nothing.

    It matches as the monitor does: the topic's rules, and its learned score if it has one."""
    from parley.flows.settings import load_settings
    from parley.storage.db import make_engine, safe_url

    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    with clean():
        settings = load_settings()
        matcher = load_matcher(topics, only=[topic])
        engine = make_engine(settings.database_url)
        try:
            pairs = _stored_entries(engine, start, end)
        finally:
            engine.dispose()
    table = Table("date", "outlet", "headline", "terms")
    hits = 0
    for entry, feed in pairs:
        for m in matcher.match(entry.title, entry.summary):
            hits += 1
            when = entry.published_at or entry.first_seen_at
            table.add_row(when.strftime("%Y-%m-%d"), escape(feed.name), escape(entry.title),
                          escape(", ".join(m.terms)))  # fmt: skip
    if hits:
        out.print(table)
    span = f"{since} … {until}" if until else f"since {since}"
    out.print(
        f"{topic}: {hits} of {len(pairs)} stored items would have alerted ({span}); "
        f"nothing written or sent. Database: {safe_url(settings.database_url)}",
        markup=False,
    )


def _stored_entries(engine: Any, start: Any, end: Any) -> list[Any]:
    """Entries in [start, end) with their feed, read in a transaction that is rolled back."""
    from sqlalchemy import inspect
    from sqlmodel import Session

    from parley.storage.db import StorageError, unreachable_as_storage_error
    from parley.storage.matches import entries_between

    with unreachable_as_storage_error(engine):
        if not inspect(engine).has_table("entry"):
            url = engine.url.render_as_string(hide_password=True)
            raise StorageError(f"database {url} has no stored entries (run `parley init` first)")
        with Session(engine) as session:
            try:
                pairs = entries_between(session, start, end)
                session.expunge_all()  # keep the loaded rows readable after the rollback
                return pairs
            finally:
                session.rollback()


# --- parley eval --------------------------------------------------------------------------
