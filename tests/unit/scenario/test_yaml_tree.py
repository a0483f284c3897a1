"""The position tree: every value keeps its line and column; YAML's silent traps are reported."""

from __future__ import annotations

import pytest
import yaml

from xedgesim.scenario import limits, yaml_tree
from xedgesim.scenario.model import Location
from xedgesim.scenario.yaml_tree import (
    YInvalid,
    YMap,
    YNode,
    YScalar,
    YSeq,
    describe,
    parse_yaml,
)


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test with libyaml (when present) and with PyYAML's pure-Python loader."""
    if request.param == "python":
        monkeypatch.setattr(yaml_tree, "_LOADER", yaml.SafeLoader)


def test_values_keep_one_based_positions() -> None:
    root, problems = parse_yaml("a: 1\nb:\n  - x\n  - {c: 2.5}\n", "f.yaml")
    assert problems == []
    assert isinstance(root, YMap)
    assert root.location == Location("f.yaml", 1, 1)
    assert root.entries["a"].key.location == Location("f.yaml", 1, 1)
    assert root.entries["a"].value.location == Location("f.yaml", 1, 4)
    seq = root.get("b")
    assert isinstance(seq, YSeq)
    assert seq.items[0].location == Location("f.yaml", 3, 5)
    inner = seq.items[1]
    assert isinstance(inner, YMap)
    assert inner.get("c").location == Location("f.yaml", 4, 9)  # type: ignore[union-attr]


def test_scalars_are_typed_and_keep_their_text() -> None:
    root, _ = parse_yaml("i: 3\nf: 0.5\nb: true\nn: null\ns: '3'\ne: 1e-3\n", "f")
    assert isinstance(root, YMap)
    values = {key: entry.value for key, entry in root.entries.items()}
    assert all(isinstance(value, YScalar) for value in values.values())
    assert [v.value for v in values.values()] == [3, 0.5, True, None, "3", 0.001]  # type: ignore[attr-defined]
    quoted = values["s"]
    assert isinstance(quoted, YScalar) and quoted.text == "3" and not quoted.plain


def test_duplicate_key_is_reported_and_the_first_kept() -> None:
    root, problems = parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:3:1: duplicate key 'a' (already given at line 1; "
        "YAML would silently keep only the last one)"
    ]
    assert isinstance(root, YMap)
    first = root.get("a")
    assert isinstance(first, YScalar) and first.value == 1


def test_duplicate_key_in_a_flow_mapping() -> None:
    _, problems = parse_yaml("x: {latency: 1ms, latency: 2ms}\n", "f.yaml")
    assert len(problems) == 1
    assert problems[0].location == Location("f.yaml", 1, 19)


def test_syntax_error_is_one_problem_at_its_mark() -> None:
    root, problems = parse_yaml("a: 1\n  b: 2\n", "f.yaml")
    assert root is None
    assert len(problems) == 1
    assert problems[0].location == Location("f.yaml", 2, 4)
    assert problems[0].message.startswith("invalid YAML: mapping values are not allowed")


def test_unclosed_quote_names_where_it_started() -> None:
    _, problems = parse_yaml("a: 1\nb: 'x\nc: 2\n", "f.yaml")
    assert len(problems) == 1
    assert problems[0].hint == "while scanning a quoted scalar that starts at line 2"


def test_tab_indentation_gets_a_hint() -> None:
    _, problems = parse_yaml("a:\n\tb: 1\n", "f.yaml")
    assert len(problems) == 1
    assert problems[0].hint is not None and "tabs" in problems[0].hint


def test_several_documents_are_refused() -> None:
    _, problems = parse_yaml("a: 1\n---\nb: 2\n", "f.yaml")
    assert len(problems) == 1
    assert problems[0].location is not None and problems[0].location.line == 2


def test_empty_document_is_none_without_problems() -> None:
    assert parse_yaml("", "f") == (None, [])
    assert parse_yaml("# only a comment\n", "f") == (None, [])


def test_unknown_tag_is_a_problem_not_an_exception() -> None:
    root, problems = parse_yaml("a: !python/object 1\n", "f.yaml")
    assert [p.message for p in problems] == ["unsupported YAML tag '!python/object'"]
    assert isinstance(root, YMap) and isinstance(root.get("a"), YInvalid)


def test_merge_keys_fill_in_missing_entries() -> None:
    text = "base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n"
    root, problems = parse_yaml(text, "f")
    assert problems == []
    assert isinstance(root, YMap)
    item = root.get("item")
    assert isinstance(item, YMap)
    values = {entry.key.value: entry.value for entry in item}
    assert {key: value.value for key, value in values.items()  # type: ignore[attr-defined]
            } == {"y": 3, "x": 1}


def test_recursive_alias_is_reported() -> None:
    root, problems = parse_yaml("a: &x [1, *x]\n", "f")
    assert [p.message for p in problems] == ["a YAML alias refers to a value that contains it"]
    assert isinstance(root, YMap)


def test_huge_integer_is_a_problem() -> None:
    _, problems = parse_yaml("a: " + "9" * 5000 + "\n", "f")
    assert len(problems) == 1 and problems[0].message.startswith("cannot read the value")


def test_a_value_its_tag_cannot_read_is_a_problem() -> None:
    _, problems = parse_yaml("a: !!timestamp nope\n", "f")
    assert [str(p) for p in problems] == ["f:1:4: cannot read the value 'nope'"]


def _shape(node: YNode | None) -> object:
    """Everything a reader can see of a tree, to compare two builders."""
    if isinstance(node, YScalar):
        return ("s", node.location, repr(node.value), node.text, node.plain)
    if isinstance(node, YSeq):
        return ("l", node.location, [_shape(item) for item in node.items])
    if isinstance(node, YMap):
        return ("m", node.location, [(repr(k), _shape(e.key), _shape(e.value))
                                     for k, e in node.entries.items()])
    return None if node is None else ("x", node.location)


@pytest.mark.parametrize("text", [
    "a: 1\nb: [x, 'y', 1e-3, '1e-3', ! 3, ! '3', !!str 3]\nc: {d: null, e: ~, f: 0x1F}\n",
    "a: 1\nb: 2\na: !!int bad\n",
    "? [x]\n: !!int bad\n? {y: 1}\n: 2\n",
    "{1: a, 1.0: b, true: c, !!timestamp 2001-12-14: d}",
    "- !!binary aGVsbG8=\n- =\n- '<<'\n- 2001-12-14\n- .inf\n- !foo x\n- !!set {x}\n",
    "&a a: &b [b]\n",
    "",
    "---\n",
])
def test_both_builders_give_the_same_tree(text: str) -> None:
    """Documents without aliases or merges are built from parser events (no node graph); the
    general builder must agree with that path on every value, position and problem."""
    _assert_both_builders_agree(text)


@pytest.mark.parametrize("text", [
    "a: [x, x, x, x, x, x]\n",  # 1 + 1 + 6 + 1 values: at the limit
    "a: [x, x, x, x, x, x, x]\n",  # one over
    "a: [[x, y], {z: 1}]\nb: 2\n",  # over, in several collections
    "a: [[[1]]]\n",  # 4 levels deep: at the limit
    "a: [[[[1]]]]\n",  # one over
    "? [[[[1]]]]\n: 2\n",  # a key too deep
])
def test_a_file_without_aliases_near_the_limits_is_read_like_any(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setattr(limits, "MAX_YAML_VALUES", 9)
    monkeypatch.setattr(limits, "MAX_YAML_DEPTH", 4)
    _assert_both_builders_agree(text)


def _assert_both_builders_agree(text: str) -> None:
    direct, direct_problems = parse_yaml(text, "f")
    loader = yaml_tree._LOADER(text)
    try:
        graph = loader.get_single_node()
        builder = yaml_tree._Builder(loader, "f")
        general = None if graph is None else builder.build(graph)
    finally:
        loader.dispose()
    assert _shape(direct) == _shape(general)
    assert direct_problems == builder.problems


def test_describe_shows_what_was_written() -> None:
    root, _ = parse_yaml("a: fast\nb: 5\nc: '5'\nd: [1]\ne: {x: 1}\nf:\n", "f")
    assert isinstance(root, YMap)
    shown = [describe(root.get(key)) for key in "abcdef"]
    assert shown == ["'fast'", "5", "'5'", "a list", "a mapping", "nothing"]


def test_control_character_is_a_problem_at_its_place() -> None:
    _, problems = parse_yaml("a: 1\nb: x\x01y\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:2:5: invalid YAML: the control character #x0001 is not allowed"
    ]


def _laughs(levels: int) -> str:
    """The "billion laughs": each level ten aliases of the one before, 10**levels values."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_where_it_passes_the_limit() -> None:
    root, problems = parse_yaml(_laughs(9), "f.yaml")
    assert [str(problem) for problem in problems] == [
        "f.yaml:7:5: with its aliases expanded this value holds more than 5,000,000 values "
        "(see 'Limits' in docs/scenario.md)"
    ]
    assert isinstance(root, YMap)
    assert isinstance(root.get("l6"), YInvalid) and isinstance(root.get("l8"), YSeq)


def test_deep_nesting_is_one_problem_not_a_recursion_error() -> None:
    _, problems = parse_yaml("a: " + "[" * 900 + "]" * 900 + "\n", "f.yaml")
    (problem,) = problems
    assert problem.message == "values nested more than 64 levels deep"
    # libyaml composes it and we refuse at the 65th level; PyYAML's own composer recurses
    assert problem.location in (Location("f.yaml", 1, 67), Location("f.yaml", 1, 1))


def test_nesting_through_aliases_counts_too() -> None:
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 80))
    _, problems = parse_yaml(text, "f.yaml")
    assert [str(problem) for problem in problems] == [  # where *a61 is used, 65 levels down
        "f.yaml:62:6: this value, used through an alias, would be nested more than 64 levels "
        "deep (see 'Limits' in docs/scenario.md)"
    ]
