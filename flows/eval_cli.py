"""`parley eval` and `parley topics train`: measure the topics on labelled items, tuning and
check part side by side, and fit the learned relevance scores on the tuning part.

Nothing here touches the database. Imports of the matcher stay inside the commands so that
`parley --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from parley.flows.cli_support import err, out
from parley.flows.topics_cli import TopicsOption, clean, fail, load_matcher

if TYPE_CHECKING:
    from parley.flows.topics.evaluate import Case, Miss, Report, Score

TITLE_WIDTH = 100
CorpusOption = Annotated[
    Path | None,
    typer.Option(envvar="PARLEY_CORPUS", help="Corpus folder (with real/items.jsonl)."),
]
SetOption = Annotated[
    Path | None,
    typer.Option("--set", help="Folder of labelled sets (default: seeds/relevance)."),
]


class By(StrEnum):
    language = "language"
    topic = "topic"


class Part(StrEnum):
    both = "both"  # tuning and check part side by side
    tune = "tune"
    check = "check"
    all = "all"  # every case, as one set


def _relevance_dir(given: Path | None) -> Path:
    from parley.flows.settings import SEEDS_DIR

    return given if given is not None else SEEDS_DIR / "relevance"


def _cases(
    paths: Sequence[Path], labels: Path | None, corpus: Path | None, folder: Path | None
) -> tuple[list[Case], str]:
    from parley.flows.topics.evaluate import load_cases, load_corpus_cases
    from parley.flows.topics.labelled import relevance_cases

    cases: list[Case] = []
    sources: list[str] = []
    for path in paths:
        cases += load_cases(path)
        sources.append(str(path))
    if labels is not None:
        if corpus is None:
            raise fail("--labels needs --corpus DIR (or PARLEY_CORPUS)")
        cases += load_corpus_cases(corpus, labels)
        sources.append(f"{labels} over {corpus}")
    if not paths and labels is None:
        directory = _relevance_dir(folder)
        found, notes = relevance_cases(directory, corpus)
        for note in notes:
            err.print(f"note: {note}", markup=False)
        if not found:
            raise fail(f"no labelled sets in {directory}")
        cases += found
        sources.append(str(directory) + (f" with {corpus}" if corpus else ""))
    return cases, ", ".join(sources)


def eval_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Case files, JSON Lines (id, title, summary, language, topics)."),
    ] = None,
    by: Annotated[By, typer.Option(help="Group the table by topic or by language.")] = By.topic,
    topics: TopicsOption = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Evaluate only this topic (repeatable)."),
    ] = None,
    part: Annotated[
        Part, typer.Option(help="both: tuning and check part side by side; or one part; or all.")
    ] = Part.both,
    min_f1: Annotated[
        float | None,
        typer.Option(
            help="Exit 1 when a cell with support has a lower F1 (the check part, or "
            "the part --part names)."
        ),
    ] = None,
    corpus: CorpusOption = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels for the corpus, JSON Lines {link, topics}: evaluates it."),
    ] = None,
    folder: SetOption = None,
    rules_only: Annotated[
        bool, typer.Option("--rules-only", help="Leave the learned scores out.")
    ] = False,
    misses: Annotated[bool, typer.Option(help="List the false negatives and positives.")] = True,
) -> None:
    """Precision and recall of the topics per topic and language: tuning and check part.

    Without files, evaluates the labelled sets of seeds/relevance (the corpus labels need
    --corpus). Every case is in the tuning or the check part by a fixed hash of its link or id.
    """
    from parley.flows.topics.evaluate import CHECK, TUNE, evaluate

    chosen = [TUNE, CHECK] if part == Part.both else [part.value]
    with clean():
        cases, source = _cases(paths or [], labels, corpus, folder)
        matcher = load_matcher(topics, rules_only=rules_only)
    keys = {t.key for t in matcher.topics}
    unknown = [key for key in only or () if key not in keys]
    if unknown:
        raise fail(f"unknown topic {unknown[0]!r}; the topics are: " + ", ".join(sorted(keys)))
    reports = {
        name: evaluate(matcher, [c for c in cases if name in (Part.all, c.part)], topics=only)
        for name in chosen
    }
    learned = ", ".join(getattr(matcher, "learned_topics", ())) or "none"
    out.print(f"{len(cases)} cases from {source}; learned scores: {learned}", markup=False)
    first = reports[chosen[0]]
    for key in first.undefined:
        err.print(f"warning: topic {key!r} is labelled but not defined in the topics file")
    if first.unlabelled:
        out.print(f"not evaluated (no case expects them): {', '.join(first.unlabelled)}")
    out.print(_split_table(reports, by.value))
    for name, report in reports.items():
        overall = report.overall()
        out.print(
            f"{name}: {report.cases} cases, {_pct(overall.precision)} precision, "
            f"{_pct(overall.recall)} recall, F1 {_pct(overall.f1)} "
            f"(TP {overall.tp}, FP {overall.fp}, FN {overall.fn})",
            markup=False,
        )
    if misses:
        for name, report in reports.items():
            _print_misses(f"{name}: false negatives", report.false_negatives())
            _print_misses(f"{name}: false positives", report.false_positives())
    if min_f1 is not None:
        gated = reports[chosen[-1]]
        failing = gated.below(min_f1)
        if failing:
            cells = ", ".join(f"{s.topic}/{s.language} {_pct(s.f1)}" for s in failing)
            err.print(f"F1 below {min_f1:g} ({chosen[-1]} part): {cells}", markup=False)
            raise typer.Exit(1)


def train_command(
    topics: TopicsOption = None,
    corpus: CorpusOption = None,
    folder: SetOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--out", help="Model file to write (default PARLEY_MODEL_FILE)."),
    ] = None,
) -> None:
    """Fit the learned relevance scores on the tuning part of the labelled sets.

    Reads seeds/relevance (the corpus labels need --corpus), keeps the tuning part only, and
    writes the weights and per-topic thresholds the monitor reads. Needs scikit-learn
    (pip install 'parley[train]').
    """
    import json

    from parley.flows.settings import load_settings
    from parley.flows.topics.labelled import relevance_cases
    from parley.flows.topics.train import TrainError, train

    with clean():
        directory = _relevance_dir(folder)
        cases, notes = relevance_cases(directory, corpus)
        rules = load_matcher(topics, rules_only=True)
        target = output or load_settings().model_file
    for note in notes:
        err.print(f"note: {note}", markup=False)
    if target is None:
        raise fail("no model file to write: give --out FILE (PARLEY_MODEL_FILE is empty)")
    sets = [p.name for p in sorted(directory.glob("*_items.jsonl"))]
    if corpus is not None:
        sets.append("corpus_labels.jsonl")
    try:
        scorer, reports = train(cases, rules, trained_on=", ".join(sets))
    except TrainError as exc:
        raise fail(str(exc)) from None
    table = Table(Column("topic", no_wrap=True), "tuning positives", "rules F1",
                  "rules + learned F1", "threshold", "weights")  # fmt: skip
    for r in reports:
        kept = r.threshold is not None
        table.add_row(r.key, str(r.positives), _pct(r.rules_f1),
                      _pct(r.learned_f1) if kept else "– (rules alone)",
                      f"{r.threshold:.2f}" if kept else "–", str(r.features))  # fmt: skip
    out.print(table)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(scorer.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    out.print(f"wrote {target} (F1 out-of-fold on the tuning part; the check part unread)")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _split_table(reports: dict[str, Report], by: str) -> Table:
    first_name, second_name = ("topic", "language") if by == "topic" else ("language", "topic")
    columns = [Column(first_name, no_wrap=True), Column(second_name, no_wrap=True)]
    for name in reports:
        columns += [Column(name, justify="right"), Column("P / R", no_wrap=True)]
    table = Table(*columns, pad_edge=False)
    base = next(iter(reports.values()))
    groups = base.topics if by == "topic" else _languages(reports)
    others = _languages(reports) if by == "topic" else base.topics
    for group in groups:
        rows = 0
        for other in others:
            key = (group, other) if by == "topic" else (other, group)
            cells = [r.scores.get(key) for r in reports.values()]
            if not any(cells):
                continue
            figures = [f for r in reports.values() for f in _figures(r.cell(*key))]
            table.add_row(group if rows == 0 else "", other, *figures)
            rows += 1
        if rows != 1:
            totals = [
                r.by_topic(group) if by == "topic" else r.by_language(group)
                for r in reports.values()
            ]
            figures = [f for total in totals for f in _figures(total)]
            table.add_row(group if rows == 0 else "", "[bold]all[/]", *figures, style="bold")
        table.add_section()
    return table


def _languages(reports: dict[str, Report]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(lang for r in reports.values() for lang in r.languages))


def _figures(score: Score) -> list[str]:
    return [str(score.support), f"{_pct(score.precision)} / {_pct(score.recall)}"]


def _print_misses(label: str, items: Sequence[Miss]) -> None:
    out.print(f"{label} ({len(items)}):" if items else f"{label}: none", markup=False)
    for miss in items:
        case = miss.case
        text = case.title.strip() or case.summary.strip()
        cut = text if len(text) <= TITLE_WIDTH else text[: TITLE_WIDTH - 1].rstrip() + "…"
        fired = f" — terms: {', '.join(miss.terms)}" if miss.terms else ""
        out.print(f"  [{miss.topic}] {case.id} ({case.language}): {cut}{fired}", markup=False)
