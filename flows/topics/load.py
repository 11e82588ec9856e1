"""Load topics from YAML (format: see the header of seeds/topics.yaml).

The YAML is composed to nodes, not loaded to Python objects, so that every error can name the
line it comes from. Terms are checked here with the matcher's own parser, so a loaded topic
always compiles.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from parley.flows.topics.normalize import normalize
from parley.flows.topics.terms import FIELDS, SpecKind, Term, TermError, TermSpec, compile_term

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
SPEC_KINDS: tuple[SpecKind, ...] = ("term", "near", "sentence", "re")
SPEC_FIELDS = (*SPEC_KINDS, "within", "fields")
MAX_WITHIN = 50  # words; farther apart is not "near"
_ESCAPE = re.compile(r"\\.")  # \D, \W… in a regex are not upper-case text
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LABEL = re.compile(r"[a-z]+(?:-[a-z0-9]+)*")  # a language code, or a label
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_HINTS = {"none": "not", "exclude": "not", "title": "name", "aliases": "any", "terms": "any"}


class TopicError(ValueError):
    """A topics file that cannot be used; the message names file, line and topic."""

    def __init__(self, source: str, line: int | None, topic: str | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.topic = topic
        self.problem = problem
        where = source if line is None else f"{source}:{line}"
        about = f"topic {topic!r}: " if topic else ""
        super().__init__(f"{where}: {about}{problem}")


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


class _Reader:
    """Walks the composed node tree; remembers the topic being read for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.topic: str | None = None
        self.sets: dict[str, tuple[Term, ...]] = {}
        self.context: tuple[Term, ...] = ()

    def fail(self, node: Node | None, problem: str) -> TopicError:
        line = node.start_mark.line + 1 if node is not None else 1
        return TopicError(self.source, line, self.topic, problem)

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

    def named_set(self, node: Node, what: str) -> tuple[Term, ...]:
        fields = self.mapping(node, f"{what}: a set")
        if list(fields) != ["set"]:
            raise self.fail(node, f"{what}: a set reference is {{set: name}} and nothing else")
        name = self.scalar(fields["set"][1], "set")
        if name not in self.sets:
            known = ", ".join(sorted(self.sets)) or "none defined"
            raise self.fail(fields["set"][1], f"{what}: unknown set {name!r} (sets: {known})")
        return self.sets[name]

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

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        own: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor`: keys given here win
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    for key, pair in self.mapping(source, f"{what} (merged by <<)").items():
                        merged.setdefault(key, pair)
                continue
            key = self.scalar(key_node, "a key")
            if key in own:
                raise self.fail(key_node, f"{key!r} is given twice")
            own[key] = (key_node, value_node)
        return merged | own

    def scalar(self, node: Node, what: str, required: bool = True) -> str:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, f"{what} must be a single value, not a list or mapping")
        value = "" if node.tag == _NULL_TAG else str(node.value).strip()
        if required and not value:
            raise self.fail(node, f"{what} must not be empty")
        return value

    def optional(self, fields: dict[str, tuple[Node, Node]], name: str) -> str:
        return self.scalar(fields[name][1], name, required=False) if name in fields else ""

    def groups(self, node: Node) -> tuple[tuple[Term, ...], ...]:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, "all: must be a non-empty list of term groups")
        return tuple(self.terms(group, f"all[{index}]") for index, group in enumerate(node.value))

    def terms(self, node: Node, what: str) -> tuple[Term, ...]:
        """A list of terms, or a mapping language → list of terms."""
        items: list[Node] = []
        if isinstance(node, SequenceNode):
            items = list(node.value)
        elif isinstance(node, MappingNode):
            for lang, (lang_node, value) in self.mapping(node, what).items():
                if not _LABEL.fullmatch(lang):
                    raise self.fail(lang_node, f"{what}: {lang!r} is not a language code (en, uk)")
                if not isinstance(value, SequenceNode):
                    raise self.fail(value, f"{what}.{lang}: must be a list of terms")
                items.extend(value.value)
        else:
            raise self.fail(node, f"{what}: must be a list of terms or a mapping language → list")
        if not items:
            raise self.fail(node, f"{what}: needs at least one term")
        terms: list[Term] = []
        for item in items:
            if isinstance(item, MappingNode) and _peek(item, "set"):
                terms.extend(self.named_set(item, what))
            elif isinstance(item, MappingNode):
                terms.append(self.spec(item, what))
            else:
                terms.append(self.term(item, what))
        return tuple(dict.fromkeys(terms))

    def term(self, item: Node, what: str) -> str:
        term = self.scalar(item, f"{what}: a term", required=False)
        try:
            compile_term(term)
        except TermError as exc:
            raise self.fail(item, f"{what}: term {term!r}: {exc}") from exc
        return term

    def spec(self, node: Node, what: str) -> TermSpec:
        """A term written as a mapping: one of term/near/sentence/re, with within and fields."""
        fields = self.mapping(node, f"{what}: a term")
        for name, (name_node, _) in fields.items():
            if name not in SPEC_FIELDS:
                allowed = ", ".join(SPEC_FIELDS)
                raise self.fail(
                    name_node, f"{what}: unknown key {name!r} in a term; allowed: {allowed}"
                )
        kinds = [kind for kind in SPEC_KINDS if kind in fields]
        if len(kinds) != 1:
            found = f"got {', '.join(kinds)}" if kinds else "got none"
            raise self.fail(
                node, f"{what}: a term mapping needs one of {', '.join(SPEC_KINDS)} ({found})"
            )
        kind = kinds[0]
        value = fields[kind][1]
        within = 0
        if "within" in fields and kind != "near":
            raise self.fail(fields["within"][0], f"{what}: 'within' goes with 'near' only")
        if kind == "near":
            if "within" not in fields:
                raise self.fail(node, f"{what}: 'near' needs 'within' (words between the parts)")
            within = self.within(fields["within"][1], what)
        shown = self.fields_of(fields["fields"][1], what) if "fields" in fields else FIELDS
        if kind == "term":
            return TermSpec("term", ((self.term(value, what),),), fields=shown)
        if kind == "re":
            pattern = self.scalar(value, f"{what}: re")
            self.check_regex(value, pattern, what)
            return TermSpec("re", pattern=pattern, fields=shown)
        return TermSpec(kind, self.parts(value, f"{what}: {kind}"), within=within, fields=shown)

    def parts(self, node: Node, what: str) -> tuple[tuple[str, ...], ...]:
        """Two or more parts; each part a term, or a list of alternative terms."""
        if not isinstance(node, SequenceNode) or len(node.value) < 2:
            raise self.fail(node, f"{what}: needs a list of two or more parts")
        parts: list[tuple[str, ...]] = []
        for part in node.value:
            if isinstance(part, SequenceNode):
                if not part.value:
                    raise self.fail(part, f"{what}: an empty list of alternatives")
                words = [word for item in part.value for word in self.alternatives(item, what)]
                parts.append(tuple(dict.fromkeys(words)))
            elif isinstance(part, ScalarNode | MappingNode):
                parts.append(tuple(dict.fromkeys(self.alternatives(part, what))))
            else:
                raise self.fail(part, f"{what}: a part is a term or a list of terms")
        return tuple(parts)

    def alternatives(self, node: Node, what: str) -> list[str]:
        """One alternative of a part: a term, or the plain terms of a ``{set: name}``."""
        if isinstance(node, MappingNode) and _peek(node, "set"):
            words = [term for term in self.named_set(node, what) if isinstance(term, str)]
            if not words:
                raise self.fail(node, f"{what}: the set has no plain terms to use in a part")
            return words
        if not isinstance(node, ScalarNode):
            raise self.fail(node, f"{what}: a part is a term, a list of terms or {{set: name}}")
        return [self.term(node, what)]

    def within(self, node: Node, what: str) -> int:
        value = self.scalar(node, "within")
        if not value.isdigit() or not 1 <= int(value) <= MAX_WITHIN:
            raise self.fail(
                node, f"{what}: within {value!r}: use a whole number of words, 1 to {MAX_WITHIN}"
            )
        return int(value)

    def fields_of(self, node: Node, what: str) -> tuple[str, ...]:
        names: list[Node] = [node] if isinstance(node, ScalarNode) else []
        if isinstance(node, SequenceNode):
            names = list(node.value)
        if not names:
            raise self.fail(node, f"{what}: fields: a list of {', '.join(FIELDS)}")
        chosen: list[str] = []
        for name_node in names:
            name = self.scalar(name_node, "fields")
            if name not in FIELDS:
                raise self.fail(
                    name_node, f"{what}: fields: {name!r} is not one of {', '.join(FIELDS)}"
                )
            chosen.append(name)
        return tuple(name for name in FIELDS if name in chosen)

    def check_regex(self, node: Node, pattern: str, what: str) -> None:
        if any(char.isupper() for char in _ESCAPE.sub("", pattern)):
            raise self.fail(
                node, f"{what}: re {pattern!r}: write it in lower case (it runs on normalised text)"
            )
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise self.fail(node, f"{what}: re {pattern!r}: {exc}") from exc
        if compiled.search("") is not None:
            raise self.fail(
                node, f"{what}: re {pattern!r} matches empty text (it would match everything)"
            )

    def check_overlap(
        self, node: Node, any_terms: tuple[Term, ...], none: tuple[Term, ...]
    ) -> None:
        vetoes = {normalize(term) for term in none if isinstance(term, str)}
        for term in any_terms:
            if isinstance(term, str) and normalize(term) in vetoes:
                raise self.fail(node, f"term {term!r} is in both 'any' and 'not'")


def _peek(node: MappingNode, name: str) -> bool:
    """Whether the mapping has the key ``name`` (merge keys aside)."""
    return any(isinstance(key, ScalarNode) and key.value == name for key, _ in node.value)


def _peek_key(node: Node) -> str | None:
    """A topic's key read ahead, so that errors found before it is validated can name it."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            is_key = isinstance(key_node, ScalarNode) and key_node.value == "key"
            if is_key and isinstance(value_node, ScalarNode) and value_node.value:
                return str(value_node.value)
    return None
