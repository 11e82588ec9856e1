"""`parley topics …` and `parley eval`: look at the topics, try them on a text, backtest one over
stored history, and measure them against labelled cases.

Nothing here writes to the database or sends anything. Imports of parley's heavier modules stay
inside the commands so that `parley --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from parley.flows.cli_support import clean_errors, err, out, parse_day

if TYPE_CHECKING:
    from parley.flows.topics.evaluate import Miss, Report, Score
    from parley.flows.topics.load import Topic

TITLE_WIDTH = 100

topics_app = typer.Typer(
    help="The topics: list them, check a text against them, backtest one over stored history.",
    no_args_is_help=True,
)

TopicsOption = Annotated[
    Path | None, typer.Option("--topics", help="Topics file (default PARLEY_TOPICS_FILE).")
]


@contextmanager
def _clean() -> Iterator[None]:
    """The main command's clean error lines (exit 2), and the same for case and label files."""
    from parley.flows.topics.evaluate import EvalError

    with clean_errors():
        try:
            yield
        except EvalError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from None


def _fail(message: str) -> typer.Exit:
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


# --- parley topics list -------------------------------------------------------------------


@topics_app.command("list")
def list_topics(topics: TopicsOption = None) -> None:
    """The loaded topics: key, name, severity and the number of `any` terms per language."""
    with _clean():
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
    topics: TopicsOption = None,
) -> None:
    """Which topics a text matches, and why: the terms that hit, the field and a quote."""
    if text is not None and title is not None:
        raise typer.BadParameter("give the title either as TEXT or as --title, not both")
    head = text if text is not None else (title or "")
    body = summary or ""
    if not (head.strip() or body.strip()):
        raise typer.BadParameter("give a text, or --title and/or --summary")
    from parley.flows.topics.match import TopicMatcher

    with _clean():
        _, loaded = _load(topics)
    matches = TopicMatcher(loaded).match(head, body)
    if not matches:
        out.print(f"no topic matched ({len(loaded)} topics checked)")
        return
    for m in matches:
        out.print(f"{m.topic_key} — {m.topic_name} ({m.severity})", markup=False)
        out.print(f"  terms: {', '.join(m.terms)}", markup=False)
        out.print(f"  in {m.field}: {m.snippet}", markup=False)


# --- parley topics test -------------------------------------------------------------------


@topics_app.command("test")
def backtest(
    topic: Annotated[str, typer.Argument(help="The key of the topic to try.")],
    since: Annotated[str, typer.Option(help="Start date (YYYY-MM-DD, UTC).")],
    until: Annotated[str | None, typer.Option(help="End date, exclusive.")] = None,
    topics: TopicsOption = None,
) -> None:
    """Backtest one topic over stored history: what it would have alerted. Writes and sends nothing."""
    from parley.flows.settings import load_settings
    from parley.flows.topics.match import TopicMatcher
    from parley.storage.db import make_engine, safe_url

    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    with _clean():
        settings = load_settings()
        _, loaded = _load(topics if topics is not None else settings.topics_file)
        chosen = [t for t in loaded if t.key == topic]
        if not chosen:
            known = ", ".join(t.key for t in loaded)
            raise _fail(f"unknown topic {topic!r}; the topics are: {known}")
        matcher = TopicMatcher(chosen)
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


class By(StrEnum):
    language = "language"
    topic = "topic"


def eval_command(
    path: Annotated[
        Path | None, typer.Argument(help="Labelled cases, JSON Lines (id, title, summary, …).")
    ] = None,
    by: Annotated[By, typer.Option(help="Group the table by topic or by language.")] = By.topic,
    topics: TopicsOption = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Evaluate only this topic (repeatable)."),
    ] = None,
    min_f1: Annotated[
        float | None,
        typer.Option(help="Exit 1 when a topic × language cell with support has a lower F1."),
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(envvar="PARLEY_CORPUS", help="Corpus folder (with real/items.jsonl)."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels for the corpus, JSON Lines {link, topics}: evaluates it."),
    ] = None,
    misses: Annotated[bool, typer.Option(help="List the false negatives and positives.")] = True,
) -> None:
    """Precision, recall and F1 of the topics per topic and language over labelled cases."""
    from parley.flows.topics.evaluate import evaluate, load_cases, load_corpus_cases
    from parley.flows.topics.match import TopicMatcher

    with _clean():
        if labels is not None:
            if path is not None:
                raise _fail("give either a case file or --labels (with --corpus), not both")
            if corpus is None:
                raise _fail("--labels needs --corpus DIR (or PARLEY_CORPUS)")
            cases = load_corpus_cases(corpus, labels)
            source = f"{labels} over {corpus}"
        elif path is not None:
            cases = load_cases(path)
            source = str(path)
        else:
            raise _fail("give a case file, or --labels FILE with --corpus DIR")
        _, loaded = _load(topics)
    if only:
        unknown = [key for key in only if key not in {t.key for t in loaded}]
        if unknown:
            raise _fail(f"unknown topic {unknown[0]!r}; the topics are: "
                        + ", ".join(t.key for t in loaded))  # fmt: skip
    report = evaluate(TopicMatcher(loaded), cases, topics=only or None)
    out.print(f"{report.cases} cases from {source}", markup=False)
    for key in report.undefined:
        err.print(f"warning: topic {key!r} is labelled but not defined in the topics file")
    if report.unlabelled:
        names = ", ".join(report.unlabelled)
        out.print(f"not evaluated (no case expects them; use --topic to force): {names}")
    out.print(_score_table(report, by.value))
    overall = report.overall()
    macro = report.macro_f1()
    out.print(
        f"overall: {_pct(overall.precision)} precision, {_pct(overall.recall)} recall, "
        f"F1 {_pct(overall.f1)} (TP {overall.tp}, FP {overall.fp}, FN {overall.fn}); "
        f"macro F1 over cells {_pct(macro)}",
        markup=False,
    )
    if misses:
        _print_misses("false negatives", report.false_negatives())
        _print_misses("false positives", report.false_positives())
    if min_f1 is not None:
        failing = report.below(min_f1)
        if failing:
            cells = ", ".join(f"{s.topic}/{s.language} {_pct(s.f1)}" for s in failing)
            err.print(f"F1 below {min_f1:g}: {cells}", markup=False)
            raise typer.Exit(1)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _score_table(report: Report, by: str) -> Table:
    first, second = ("topic", "language") if by == "topic" else ("language", "topic")
    table = Table(Column(first, no_wrap=True), Column(second, no_wrap=True), "support",
                  "TP", "FP", "FN", "precision", "recall", "F1")  # fmt: skip
    groups = report.topics if by == "topic" else report.languages
    others = report.languages if by == "topic" else report.topics
    for group in groups:
        rows: list[Score] = []
        for other in others:
            key = (group, other) if by == "topic" else (other, group)
            if key in report.scores:
                rows.append(report.scores[key])
        total = report.by_topic(group) if by == "topic" else report.by_language(group)
        for index, score in enumerate(rows):
            name = group if index == 0 else ""
            other_name = score.language if by == "topic" else score.topic
            table.add_row(name, other_name, *_figures(score))
        if not rows:
            table.add_row(group, "(none)", *_figures(total))
        elif len(rows) > 1:
            table.add_row("", "[bold]all[/]", *_figures(total), style="bold")
        table.add_section()
    return table


def _figures(score: Score) -> list[str]:
    return [str(score.support), str(score.tp), str(score.fp), str(score.fn),
            _pct(score.precision), _pct(score.recall), _pct(score.f1)]  # fmt: skip


def _print_misses(label: str, items: Sequence[Miss]) -> None:
    out.print(f"{label} ({len(items)}):" if items else f"{label}: none", markup=False)
    for miss in items:
        case = miss.case
        text = case.title.strip() or case.summary.strip()
        cut = text if len(text) <= TITLE_WIDTH else text[: TITLE_WIDTH - 1].rstrip() + "…"
        fired = f" — terms: {', '.join(miss.terms)}" if miss.terms else ""
        out.print(f"  [{miss.topic}] {case.id} ({case.language}): {cut}{fired}", markup=False)
