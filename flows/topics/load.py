"""Load topics from YAML (format: see the header of seeds/topics.yaml).

The YAML is composed to nodes, not loaded to Python objects, so that every error can name the
line it comes from. This module reads the file, its sets and its topics; yaml_terms.py reads
the terms inside them, checked with the matcher's own parser, so a loaded topic always compiles.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from parley.flows.topics.normalize import normalize
from parley.flows.topics.terms import Term
from parley.flows.topics.yaml_terms import KEY as _KEY
from parley.flows.topics.yaml_terms import NodeReader, TopicError

__all__ = ["SEVERITIES", "Topic", "TopicError", "load_context", "load_topics", "parse_topics"]

SEVERITIES = ("low", "medium", "high", "critical")
TOPIC_FIELDS = (
    "key",
    "name",
    "severity",
    "description",
    "replaces",
    "min_score",
    "any",
    "all",
    "not",
    "unless",
)
FILE_FIELDS = ("sets", "context", "topics")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_HINTS = {"none": "not", "exclude": "not", "title": "name", "aliases": "any", "terms": "any"}


@dataclass(frozen=True)
class Topic:
    """One topic: matches when an `any` term, a term of every `all` group and no `none` term occur.

    Terms are strings (words, phrases, stems) or `TermSpec`s (near, sentence, re, fields).
    `min_score`: the hits' score (a term in the title counts 2, in the summary 1) needed too.
    """

    key: str
    name: str
    severity: str
    any: tuple[Term, ...]
    all: tuple[tuple[Term, ...], ...]
    none: tuple[Term, ...]
    description: str = ""
    min_score: float = 0.0
    replaces: tuple[str, ...] = ()  # former keys: stored matches and routes naming them carry over
    unless: tuple[Term, ...] = ()  # any of these lifts the `none` vetoes


def load_topics(path: Path) -> list[Topic]:
    """Read and validate a topics YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopicError(str(path), None, None, f"cannot read topics file: {exc}") from exc
    return parse_topics(text, source=str(path))


def parse_topics(text: str, source: str = "<string>") -> list[Topic]:
    """Validate topics YAML given as text; `source` names it in errors."""
    return list(_parsed(text, source)[0])


def load_context(path: Path) -> tuple[Term, ...]:
    """The file's ``context:`` terms (this war's names), which learned matches require."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopicError(str(path), None, None, f"cannot read topics file: {exc}") from exc
    return _parsed(text, str(path))[1]


@functools.lru_cache(maxsize=4)
def _parsed(text: str, source: str) -> tuple[tuple[Topic, ...], tuple[Term, ...]]:
    """Topics are immutable, so a monitor cycle re-reading an unchanged file (every cycle of a
    running service) reuses the parse: ~35 ms of YAML and term compiling on the seed file."""
    try:
        # libyaml's loader when PyYAML has it: ~30× faster on the seed file, same nodes and marks.
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise TopicError(source, line, None, f"invalid YAML: {exc.problem}") from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise TopicError(source, line, None, f"invalid YAML: {exc.reason}") from exc
    except yaml.YAMLError as exc:
        raise TopicError(source, None, None, f"invalid YAML: {exc}") from exc
    reader = _Reader(source)
    return tuple(reader.topics(root)), reader.context


class _Reader(NodeReader):
    """Walks the composed node tree: the file, its sets, its topics."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.context: tuple[Term, ...] = ()

    def topics(self, root: Node | None) -> list[Topic]:
        if root is None:
            raise TopicError(self.source, 1, None, "empty file: expected 'topics:' with a list")
        fields = self.mapping(root, "the file")
        unknown = [k for k in fields if k not in FILE_FIELDS]
        if unknown:
            raise self.fail(
                fields[unknown[0]][0], f"unknown key {unknown[0]!r}: expected 'sets' or 'topics'"
            )
        if "sets" in fields:
            self.read_sets(fields["sets"][1])
        if "context" in fields:
            self.context = self.terms(fields["context"][1], "context")
        if "topics" not in fields:
            raise self.fail(root, "missing 'topics:' list")
        items = fields["topics"][1]
        if not isinstance(items, SequenceNode) or not items.value:
            raise self.fail(items, "'topics' must be a non-empty list")
        result: list[Topic] = []
        lines: dict[str, int] = {}
        for number, item in enumerate(items.value, start=1):
            topic = self.topic_node(item, number)
            if topic.key in lines:
                raise self.fail(
                    item, f"duplicate topic key (first defined on line {lines[topic.key]})"
                )
            lines[topic.key] = item.start_mark.line + 1
            result.append(topic)
        return result

    def read_sets(self, node: Node) -> None:
        """``sets:`` name → terms, defined once and used as ``{set: name}`` by any topic."""
        for name, (name_node, value) in self.mapping(node, "sets").items():
            self.topic = None
            if not _KEY.fullmatch(name):
                raise self.fail(
                    name_node, f"set {name!r}: use lowercase letters, digits and dashes"
                )
            self.sets[name] = self.terms(value, f"set {name!r}")

    def topic_node(self, node: Node, number: int) -> Topic:
        self.topic = _peek_key(node) or f"#{number}"
        fields = self.mapping(node, "a topic")
        key = ""
        if "key" in fields:
            key_node = fields["key"][1]
            key = self.scalar(key_node, "key")
            self.topic = key
            if not _KEY.fullmatch(key):
                raise self.fail(key_node, "key: use lowercase letters, digits and dashes")
        for name, (name_node, _) in fields.items():
            if name not in TOPIC_FIELDS:
                hint = f" (did you mean {_HINTS[name]!r}?)" if name in _HINTS else ""
                allowed = ", ".join(TOPIC_FIELDS)
                raise self.fail(name_node, f"unknown key {name!r}{hint}; allowed: {allowed}")
        for required in ("key", "name", "any"):
            if required not in fields:
                raise self.fail(node, f"missing {required!r}")
        severity_node = fields["severity"][1] if "severity" in fields else None
        severity = self.scalar(severity_node, "severity") if severity_node else "medium"
        if severity not in SEVERITIES:
            raise self.fail(severity_node, f"severity {severity!r}: use one of {SEVERITIES}")
        any_terms = self.terms(fields["any"][1], "any")
        none_terms = self.terms(fields["not"][1], "not") if "not" in fields else ()
        self.check_overlap(fields["any"][1], any_terms, none_terms)
        return Topic(
            key=key,
            name=self.scalar(fields["name"][1], "name"),
            severity=severity,
            any=any_terms,
            all=self.groups(fields["all"][1]) if "all" in fields else (),
            none=none_terms,
            description=self.optional(fields, "description"),
            min_score=self.score(fields["min_score"][1]) if "min_score" in fields else 0.0,
            replaces=self.former_keys(fields["replaces"][1]) if "replaces" in fields else (),
            unless=self.terms(fields["unless"][1], "unless") if "unless" in fields else (),
        )

    def former_keys(self, node: Node) -> tuple[str, ...]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        keys = tuple(self.scalar(item, "replaces") for item in items)
        for item, key in zip(items, keys, strict=True):
            if not _KEY.fullmatch(key):
                raise self.fail(item, f"replaces: {key!r} is not a topic key")
        return keys

    def score(self, node: Node) -> float:
        value = self.scalar(node, "min_score")
        if not _NUMBER.fullmatch(value):
            raise self.fail(node, f"min_score {value!r}: use a number such as 2 or 2.5")
        return float(value)

    def optional(self, fields: dict[str, tuple[Node, Node]], name: str) -> str:
        return self.scalar(fields[name][1], name, required=False) if name in fields else ""

    def groups(self, node: Node) -> tuple[tuple[Term, ...], ...]:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, "all: must be a non-empty list of term groups")
        return tuple(self.terms(group, f"all[{index}]") for index, group in enumerate(node.value))

    def check_overlap(
        self, node: Node, any_terms: tuple[Term, ...], none: tuple[Term, ...]
    ) -> None:
        vetoes = {normalize(term) for term in none if isinstance(term, str)}
        for term in any_terms:
            if isinstance(term, str) and normalize(term) in vetoes:
                raise self.fail(node, f"term {term!r} is in both 'any' and 'not'")


def _peek_key(node: Node) -> str | None:
    """A topic's key read ahead, so that errors found before it is validated can name it."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            is_key = isinstance(key_node, ScalarNode) and key_node.value == "key"
            if is_key and isinstance(value_node, ScalarNode) and value_node.value:
                return str(value_node.value)
    return None
