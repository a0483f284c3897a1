"""YAML text -> a tree of values that remember where they were written.

``yaml.safe_load`` throws positions away and silently keeps the last of two equal keys; both
matter for good error messages. So we build our own small tree from the parser's events (or,
for a file with aliases or merge keys, from PyYAML's node graph), and report duplicates and
syntax errors as ``Problem``s.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import yaml

from xedgesim.scenario import limits
from xedgesim.scenario.errors import Problem
from xedgesim.scenario.model import Location

# libyaml composes about ten times faster; both give the same nodes and marks.
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED_CACHE = 10_000


def read_source(filename: str, what: str) -> tuple[bytes, str]:
    """A YAML file's bytes (what a content hash covers) and its text, read with the size
    bound; ``ScenarioError`` located at the file (or at the first byte that is not UTF-8) when
    it cannot be. ``what`` names the file in the messages ("the scenario", "the network
    overlay"): every file xedge parses this way is refused in the same words."""
    from xedgesim.bounded import Unreadable, read_bounded
    from xedgesim.scenario.errors import ScenarioError

    whole_file = Location(filename, 0, 0)
    try:
        data = read_bounded(filename, limits.MAX_FILE_BYTES)
    except Unreadable as error:
        problem = {
            "directory": Problem(whole_file, f"cannot read {what}: it is a directory",
                                 "give the path of a .yaml file"),
            "special": Problem(whole_file, f"{what} is not a regular file"),
            "too_large": Problem(whole_file,
                                 f"{what} is larger than {limits.MAX_FILE_BYTES // 2**20} MiB",
                                 "see 'Limits' in docs/scenario.md"),
        }.get(error.kind, Problem(whole_file, f"cannot read {what}: {error.reason}"))
        raise ScenarioError([problem]) from None
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ScenarioError(
            [Problem(Location(filename, line, column), "the file is not UTF-8 text")]) from None


class _Loader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader, remembering how it typed each plain value: a file of 100,000 links
    says 'latency' and its node names over and over, and resolving runs a regex per value."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._resolved: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(self._resolved) < _RESOLVED_CACHE:
                self._resolved[key] = tag
        return tag


_LOADER: type[yaml.SafeLoader] = _Loader
_new_location = partial(tuple.__new__, Location)  # Location(...) without its Python __new__
_LEAF = (1, 1)  # the expanded size and height of a scalar
_LIMITS_HINT = "see 'Limits' in docs/scenario.md"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# YAML 1.2 floats that PyYAML (YAML 1.1) leaves as strings, such as 1e-3.
_FLOAT_12 = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


@dataclass(eq=False, slots=True)
class YNode:
    """A value of the document and the place where it starts."""

    location: Location


@dataclass(eq=False, slots=True)
class YScalar(YNode):
    """A scalar: ``value`` as YAML types it (str, int, float, bool, None), ``text`` as written."""

    value: object
    text: str
    plain: bool  # written without quotes


@dataclass(eq=False, slots=True)
class YSeq(YNode):
    items: list[YNode] = field(default_factory=list)


class YEntry(NamedTuple):
    """A key of a mapping and its value (a tuple: a 100,000-link file makes half a million)."""

    key: YScalar
    value: YNode


@dataclass(eq=False, slots=True)
class YMap(YNode):
    """A mapping; keys are the scalar values, insertion (file) order kept."""

    entries: dict[Hashable, YEntry] = field(default_factory=dict)

    def get(self, key: str) -> YNode | None:
        entry = self.entries.get(key)
        return None if entry is None else entry.value

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[YEntry]:
        return iter(self.entries.values())


@dataclass(eq=False, slots=True)
class YInvalid(YNode):
    """A value already reported as wrong: readers skip it quietly, so one mistake is one line."""


def describe(node: YNode | None) -> str:
    """How a value is shown in messages: what the user wrote, or what kind of thing it is."""
    if node is None or isinstance(node, YInvalid):
        return "nothing"
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    assert isinstance(node, YScalar)
    if node.value is None:
        return "nothing"
    if isinstance(node.value, str) or not node.plain:
        return repr(node.text)
    return node.text


def parse_yaml(text: str, filename: str) -> tuple[YNode | None, list[Problem]]:
    """Compose ``text`` into a position tree; ``None`` for an empty document or bad syntax."""
    try:
        loader = _LOADER(text)
    except yaml.reader.ReaderError as error:
        return None, [_character_problem(error, text, filename)]
    try:
        try:
            direct = _EventBuilder(loader, filename)
            return direct.document(), direct.problems
        except _Fallback:
            loader.dispose()
            loader = _LOADER(text)
        root = loader.get_single_node()
        if root is None:
            return None, []
        builder = _Builder(loader, filename)
        return builder.build(root), builder.problems
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_problem(error, text, filename)]
    except yaml.reader.ReaderError as error:
        return None, [_character_problem(error, text, filename)]
    except RecursionError:  # PyYAML's pure-Python composer recurses (libyaml stops at 1000)
        message = f"values nested more than {limits.MAX_YAML_DEPTH} levels deep"
        return None, [Problem(Location(filename, 1, 1), message, _LIMITS_HINT)]
    finally:
        loader.dispose()


def _location(mark: yaml.Mark, filename: str) -> Location:
    return Location(filename, mark.line + 1, mark.column + 1)


def _character_problem(error: yaml.reader.ReaderError, text: str, filename: str) -> Problem:
    position = max(0, min(error.position, len(text)))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return Problem(
        Location(filename, line, column),
        f"invalid YAML: the control character #x{error.character:04x} is not allowed",
    )


def _syntax_problem(error: yaml.MarkedYAMLError, text: str, filename: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    message = f"invalid YAML: {error.problem or error.context}"
    if mark is None:  # PyYAML always marks its syntax errors; this is for the type checker
        return Problem(Location(filename, 1, 1), message)
    hint = None
    lines = text.split("\n")
    line = lines[mark.line] if mark.line < len(lines) else ""
    if line[mark.column : mark.column + 1] == "\t":
        hint = "YAML indentation and separators must be spaces, not tabs"
    elif error.context and error.problem:
        hint = error.context
        if error.context_mark is not None and error.context_mark.line != mark.line:
            hint += f" that starts at line {error.context_mark.line + 1}"
    return Problem(_location(mark, filename), message, hint)


class _Builder:
    """Walks PyYAML's node graph once, sharing anchored nodes and refusing recursive ones.

    Aliases make the graph a DAG whose tree can be exponentially larger than the file (a
    "billion laughs"), so every value's expanded size and height are counted as it is built,
    and a value over the limits is refused; whoever walks the tree later is bounded by them.
    """

    def __init__(self, loader: yaml.SafeLoader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.problems: list[Problem] = []
        self._done: dict[int, YNode] = {}
        self._active: set[int] = set()
        self._shape: dict[int, tuple[int, int]] = {}  # id(result) -> (expanded size, height)

    def build(self, node: yaml.Node) -> YNode:
        if type(node) is yaml.ScalarNode:  # most values: no children, nothing to share
            return self._scalar(node)
        here = _location(node.start_mark, self.filename)
        depth = len(self._active) + 1
        done = self._done.get(id(node))
        if done is not None:
            if depth + self._shape[id(done)][1] - 1 <= limits.MAX_YAML_DEPTH:
                return done
            return self._refuse(None, here, "this value, used through an alias, would be nested "
                                f"more than {limits.MAX_YAML_DEPTH} levels deep")
        if id(node) in self._active:
            self.problems.append(Problem(here, "a YAML alias refers to a value that contains it"))
            return YInvalid(here)
        if depth > limits.MAX_YAML_DEPTH:
            return self._refuse(node, here, f"values nested more than {limits.MAX_YAML_DEPTH} "
                                "levels deep")
        self._active.add(id(node))
        try:
            size = 1
            if isinstance(node, yaml.MappingNode):
                result: YNode = self._mapping(node, here)
                children = [entry.value for entry in result.entries.values()]
                size += len(children)  # the keys: scalars
            elif isinstance(node, yaml.SequenceNode):
                children = [self.build(item) for item in node.value]
                result = YSeq(here, children)
            else:  # not produced by PyYAML's composer
                result, children = YInvalid(here), []
        finally:
            self._active.discard(id(node))
        height = 2 if children else 1
        shape = self._shape
        for child in children:
            if type(child) is YScalar:
                size += 1
                continue
            child_size, child_height = shape.get(id(child), _LEAF)
            size += child_size
            if child_height >= height:
                height = child_height + 1
        if size > limits.MAX_YAML_VALUES:
            return self._refuse(node, here, f"with its aliases expanded this value holds more "
                                f"than {limits.MAX_YAML_VALUES:,} values")
        shape[id(result)] = (size, height)
        self._done[id(node)] = result
        return result

    def _refuse(self, node: yaml.Node | None, here: Location, message: str) -> YInvalid:
        """One problem, and a stand-in that every later alias to ``node`` shares quietly."""
        self.problems.append(Problem(here, message, _LIMITS_HINT))
        result = YInvalid(here)
        self._shape[id(result)] = (1, 0)  # counts as nothing: its parents are not refused too
        if node is not None:
            self._done[id(node)] = result
        return result

    def _scalar(self, node: yaml.ScalarNode) -> YNode:
        mark = node.start_mark
        here = _new_location((self.filename, mark.line + 1, mark.column + 1))
        plain = not node.style  # None from PyYAML, '' from libyaml
        if node.tag == _STR_TAG:  # the common case, without PyYAML's per-object bookkeeping
            value: object = node.value
            if plain and _FLOAT_12.fullmatch(node.value):
                value = float(node.value)
            return YScalar(here, value, node.value, plain)
        return _constructed(self.loader, node, here, self.problems)

    def _mapping(self, node: yaml.MappingNode, here: Location) -> YMap:
        result = YMap(here)
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node))
                continue
            key = self.build(key_node)
            if not isinstance(key, YScalar):
                if not isinstance(key, YInvalid):
                    self.problems.append(Problem(key.location, "a key must be a plain value"))
                continue
            if type(key.value) is not str and not isinstance(key.value, Hashable):
                self.problems.append(Problem(key.location, f"unusable key {key.text!r}"))
                continue
            first = result.entries.get(key.value)
            if first is not None:
                self.problems.append(
                    Problem(
                        key.location,
                        f"duplicate key {key.text!r}",
                        f"already given at line {first.key.location.line}; "
                        "YAML would silently keep only the last one",
                    )
                )
                continue
            result.entries[key.value] = YEntry(key, self.build(value_node))
        for source in merged:
            for entry in source:
                result.entries.setdefault(entry.key.value, entry)
        return result

    def _merge_sources(self, node: yaml.Node) -> list[YMap]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        sources = []
        for item in items:
            built = self.build(item)
            if isinstance(built, YMap):
                sources.append(built)
            elif not isinstance(built, YInvalid):
                self.problems.append(Problem(built.location, "'<<' can only merge mappings"))
        return sources


def _constructed(
    loader: yaml.SafeLoader, node: yaml.ScalarNode, here: Location, problems: list[Problem]
) -> YNode:
    """A scalar that is not a string, typed by PyYAML's constructor (which reports bad ones)."""
    plain = not node.style
    try:
        value = loader.construct_object(node)
    except yaml.constructor.ConstructorError as error:
        message = error.problem or "cannot read this value"
        if "could not determine a constructor" in message:
            message = f"unsupported YAML tag {node.tag!r}"
        problems.append(Problem(here, message))
        return YInvalid(here)
    except (ValueError, TypeError, AttributeError, OverflowError):
        # an integer with more digits than Python converts; `!!timestamp nope` (AttributeError)
        problems.append(Problem(here, f"cannot read the value {node.value[:40]!r}"))
        return YInvalid(here)
    return YScalar(here, value, node.value, plain)


class _Fallback(Exception):
    """The document needs ``_Builder``: it has an alias, a merge key, an anchor given twice, a
    second document, or comes near a limit."""


_CONSTRUCT = object()  # in the cache of plain scalars: "not a string, construct each time"


class _EventBuilder:
    """Builds the tree straight from the parser's events, for the documents almost every file
    is: no aliases or merge keys, well inside the nesting and size limits.

    PyYAML's node graph (an object with a dict and two marks per value) is never made, which
    takes a third of the time and half the memory of a 100,000-link file. Whatever is not that
    simple raises ``_Fallback`` and ``_Builder`` reads the file again, so both builders give the
    same tree and the same problems by construction; this one only covers the easy case fast.
    """

    def __init__(self, loader: yaml.SafeLoader, filename: str) -> None:
        self.loader = loader
        self.next_event = loader.get_event
        self.filename = filename
        self.problems: list[Problem] = []
        self.depth = 0
        self.values = 1  # the root; each collection adds its children and keys
        self.anchors: set[str] = set()
        # A plain scalar's text -> (one shared copy of it, its tag, its value or _CONSTRUCT):
        # a large file repeats its keys and node names, and resolving a tag runs regexes.
        self.plain: dict[str, tuple[str, str, object]] = {}

    def document(self) -> YNode | None:
        next_event = self.next_event
        next_event()  # the stream starts
        root = None
        if type(next_event()) is not yaml.StreamEndEvent:  # a document starts
            root = self.node(next_event())
            next_event()  # the document ends
            if type(next_event()) is not yaml.StreamEndEvent:
                raise _Fallback  # a second document: the composer words that error
        return root

    def node(self, event: yaml.Event) -> YNode:
        """Any value; a collection counts its children (and keys) towards the size limit."""
        kind = type(event)
        if kind is yaml.ScalarEvent:
            return self.scalar(event)
        if kind is yaml.AliasEvent:
            raise _Fallback
        if event.anchor is not None:
            self.anchor(event.anchor)
        self.depth += 1
        if self.depth > limits.MAX_YAML_DEPTH:
            raise _Fallback
        mark = event.start_mark
        here = _new_location((self.filename, mark.line + 1, mark.column + 1))
        result = self.sequence(here) if kind is yaml.SequenceStartEvent else self.mapping(here)
        self.depth -= 1
        if self.values > limits.MAX_YAML_VALUES:
            raise _Fallback
        return result

    def sequence(self, here: Location) -> YSeq:
        items: list[YNode] = []
        scalar, node, next_event = self.scalar, self.node, self.next_event
        event = next_event()
        while type(event) is not yaml.SequenceEndEvent:
            items.append(scalar(event) if type(event) is yaml.ScalarEvent else node(event))
            event = next_event()
        self.values += len(items)
        return YSeq(here, items)

    def anchor(self, name: str) -> None:
        if name in self.anchors:
            raise _Fallback
        self.anchors.add(name)

    def scalar(self, event: yaml.ScalarEvent) -> YNode:
        if event.anchor is not None:
            self.anchor(event.anchor)
        mark = event.start_mark
        here = _new_location((self.filename, mark.line + 1, mark.column + 1))
        text = event.value
        tag = event.tag
        plain = not event.style
        if tag is None or tag == "!":
            if plain and event.implicit[0]:
                known = self.plain.get(text)
                if known is None:
                    tag = self.loader.resolve(yaml.ScalarNode, text, event.implicit)
                    typed: object = _CONSTRUCT
                    if tag == _STR_TAG:
                        typed = float(text) if _FLOAT_12.fullmatch(text) else text
                    known = (text, tag, typed)
                    if len(self.plain) < _RESOLVED_CACHE:
                        self.plain[text] = known
                text, tag, typed = known
                if typed is not _CONSTRUCT:
                    return YScalar(here, typed, text, True)
            else:
                tag = self.loader.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR_TAG:
            value = float(text) if plain and _FLOAT_12.fullmatch(text) else text
            return YScalar(here, value, text, plain)
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        return _constructed(self.loader, node, here, self.problems)

    def mapping(self, here: Location) -> YMap:
        result = YMap(here)
        entries = result.entries
        problems = self.problems
        scalar, node, next_event = self.scalar, self.node, self.next_event
        event = next_event()
        while type(event) is not yaml.MappingEndEvent:
            if type(event) is yaml.ScalarEvent:
                if event.value == "<<" or event.tag == _MERGE_TAG:
                    raise _Fallback
                key = scalar(event)
            elif event.tag == _MERGE_TAG:
                raise _Fallback
            else:
                key = node(event)
            event = next_event()
            if type(key) is YScalar:
                name = key.value
                if type(name) is str or isinstance(name, Hashable):
                    first = entries.get(name)
                    if first is None:
                        value = scalar(event) if type(event) is yaml.ScalarEvent else node(event)
                        entries[name] = YEntry(key, value)
                        event = next_event()
                        continue
                    problems.append(
                        Problem(
                            key.location,
                            f"duplicate key {key.text!r}",
                            f"already given at line {first.key.location.line}; "
                            "YAML would silently keep only the last one",
                        )
                    )
                else:
                    problems.append(Problem(key.location, f"unusable key {key.text!r}"))
            elif not isinstance(key, YInvalid):
                problems.append(Problem(key.location, "a key must be a plain value"))
            kept = len(problems)  # _Builder does not read the value of a refused key
            self.node(event)
            del problems[kept:]
            event = next_event()
        self.values += 2 * len(entries)
        return result
