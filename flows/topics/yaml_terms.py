"""Read the YAML of topic terms: a term, a list of terms, a language mapping, a structured term
(near, sentence, re, fields) and a named set (``{set: name}``), each mistake named by line.

The node-level half of load.py: load.py reads the file, its sets and its topics; this module
reads the terms inside them, checked with the matcher's own parser so that they compile.
"""

from __future__ import annotations

import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from parley.flows.topics.terms import FIELDS, SpecKind, Term, TermError, TermSpec, compile_term

SPEC_KINDS: tuple[SpecKind, ...] = ("term", "near", "sentence", "re")
SPEC_FIELDS = (*SPEC_KINDS, "within", "fields")
MAX_WITHIN = 50  # words; farther apart is not "near"
KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # topic and set keys
_ESCAPE = re.compile(r"\\.")  # \D, \W… in a regex are not upper-case text
_LABEL = re.compile(r"[a-z]+(?:-[a-z0-9]+)*")  # a language code, or a label
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


class NodeReader:
    """Reads terms from composed YAML nodes; remembers the topic being read for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.topic: str | None = None
        self.sets: dict[str, tuple[Term, ...]] = {}

    def fail(self, node: Node | None, problem: str) -> TopicError:
        line = node.start_mark.line + 1 if node is not None else 1
        return TopicError(self.source, line, self.topic, problem)

    def named_set(self, node: Node, what: str) -> tuple[Term, ...]:
        fields = self.mapping(node, f"{what}: a set")
        if list(fields) != ["set"]:
            raise self.fail(node, f"{what}: a set reference is {{set: name}} and nothing else")
        name = self.scalar(fields["set"][1], "set")
        if name not in self.sets:
            known = ", ".join(sorted(self.sets)) or "none defined"
            raise self.fail(fields["set"][1], f"{what}: unknown set {name!r} (sets: {known})")
        return self.sets[name]

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
            if isinstance(item, MappingNode) and peek(item, "set"):
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
        if isinstance(node, MappingNode) and peek(node, "set"):
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


def peek(node: MappingNode, name: str) -> bool:
    """Whether the mapping has the key ``name`` (merge keys aside)."""
    return any(isinstance(key, ScalarNode) and key.value == name for key, _ in node.value)
