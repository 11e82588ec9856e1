"""The labelled sets topics are tuned and measured on (seeds/relevance/, see LABELLING.md).

- ``corpus_labels.jsonl``: links and labels only, joined at run time with a corpus of real
  items (``DIR/real/items.jsonl``, given by ``--corpus`` or PARLEY_CORPUS);
- ``*_items.jsonl``: labelled items whose text is the team's own (Ukrainian, see the file's
  ``origin`` and ``why`` fields), read as case files.

Every case belongs to the tuning or the check part by a fixed hash of its link or id
(evaluate.split_part).
"""

from __future__ import annotations

from pathlib import Path

from parley.flows.topics.evaluate import Case, load_cases, load_corpus_cases

CORPUS_LABELS = "corpus_labels.jsonl"
ITEMS_GLOB = "*_items.jsonl"


def relevance_cases(directory: Path, corpus: Path | None) -> tuple[list[Case], list[str]]:
    """The cases of ``directory`` and what was left out (a note per skipped set)."""
    cases: list[Case] = []
    notes: list[str] = []
    for path in sorted(directory.glob(ITEMS_GLOB)):
        cases += load_cases(path)
    labels = directory / CORPUS_LABELS
    if labels.is_file():
        if corpus is None:
            notes.append(f"{labels} skipped: give --corpus DIR (or PARLEY_CORPUS) to read it")
        else:
            cases += load_corpus_cases(corpus, labels)
    return cases, notes
