"""Hostile scenario trees through ``xedge validate`` and ``xedge simulate``: never a traceback,
never a hang, never a write outside the chosen output directory.

Hypothesis builds scenario trees from the real keys with values that are sometimes right and
often not (wrong types, huge numbers, path-like names, NUL bytes, keys of other kinds), dumps
them as YAML (sometimes cut short), and runs both commands in-process in a fresh working
directory. Runs that are valid stay small (seconds of virtual time, a few instances), so a
command that takes over 10 s is stuck, and is interrupted by an alarm.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xedgesim.cli import main
from xedgesim.scenario import ScenarioError, load_scenario

HANG_S = 10
KEYS = ["id", "type", "count", "interval", "to", "topic", "qos", "payload", "docker", "name",
        "duration", "nodes", "network", "faults", "latency", "between", "at", "action"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from([
        "", "x", "5", "5ms", "-1s", "0", "1e999999999s", "4611686018427387904ns", "banana",
        "{id}", "{nope}", "#", "a/+/b", "$SYS/x", "a\x00b", "ü", "x" * 300, "unlimited", "1bit",
        "1GiB", "100%", "random", "poisson", "service", "protocol",
    ]),
)
junk = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


BASE: dict[str, Any] = {
    "name": "fuzz",
    "seed": 1,
    "duration": "2s",
    "network": {
        "default": {"latency": "5ms", "jitter": {"exponential": "1ms"}, "loss": 0.01},
        "links": [{"between": ["gw", "c"], "latency": "20ms", "bandwidth": "1Mbit"}],
    },
    "nodes": [
        {"id": "s", "type": "sensor", "count": 3, "interval": "100ms", "to": "gw",
         "topic": "site/{id}/t", "qos": 1},
        {"id": "gw", "type": "gateway", "aggregate_every": "500ms", "to": "b"},
        {"id": "b", "type": "broker"},
        {"id": "c", "type": "cloud", "subscribe": ["agg/#"]},
    ],
    "faults": [{"at": "1s", "node": "gw", "action": "crash", "for": "200ms"}],
}
# Other values a key may take: some right, some wrong in an interesting way.
ALTERNATIVES: dict[str, list[Any]] = {
    "name": ["fuzz-2", "../escaped", "runs/../../x", "a" * 300, ".", "..", "a\x00b", "%ESCAPE%"],
    "seed": [0, -1, 2**64, "x"],
    "duration": ["1s", "0s", "-1s", "5", "1e999999999s", "2305843009213693952ns"],
    "latency": ["0", "1ms", "4611686018427387904ns", "5Mbit"],
    "jitter": [{"normal": {"mean": "1ms", "std": "1ms"}}, {"uniform": ["3ms", "1ms"]},
               {"constant": 5}, {"exponential": "0s"}],
    "loss": [0, 1, "1%", 2, "nan"],
    "bandwidth": ["10Mbit", "1bit", "unlimited", "0bit"],
    "between": [["gw", "gw"], ["gw", "s-1"], ["gw", "nope"], ["c", "gw"], []],
    "id": ["s", "gw", "s-1", "a b", ""],
    "type": ["sensor", "gateway", "broker", "cloud", "sensro"],
    "count": [1, 2, 0, 10**12, 10**7],
    "interval": ["200ms", "1ns", "0s"],
    "to": ["gw", "b", "c", "s", "nope"],
    "topic": ["{index}/x", "a/#", "{nope}", "$SYS/x", "t" * 70_000],
    "qos": [0, 2, True],
    "payload": ["64B", "1GiB", "0B"],
    "aggregate_every": ["1s", "0s"],
    "subscribe": [["#"], {"broker": "b", "topics": ["#"], "qos": 1}, {"broker": "c"}, []],
    "implementation": ["python_model", "docker", "renode"],
    "at": ["0s", "10s", "2s"],
    "action": ["restart", "link_down", "partition", "heal", "crash"],
    "node": ["gw", "s-1", "s", "nope"],
    "for": ["1s", "100000000000000000s", "0s"],
}
EXTRA_KEYS = ["docker", "image", "groups", "link", "simulation", "ml_inference", "process",
              "phase", "value", "retain", "max_retries", "retry_interval"]


def maybe(good: list[Any]) -> st.SearchStrategy[Any]:
    """A value from ``good`` most of the time, anything at all otherwise."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), junk)


@st.composite
def mutated(draw: st.DrawFn, tree: Any, depth: int = 0) -> Any:
    """``tree`` with one value somewhere below it replaced, removed or added."""
    if isinstance(tree, dict) and tree and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(sorted(tree)))
        choice = draw(st.integers(0, 5))
        copy = dict(tree)
        if choice == 0:
            del copy[key]
        elif choice == 1:
            copy[draw(st.sampled_from(EXTRA_KEYS))] = draw(junk)
        elif choice == 2 or key not in ALTERNATIVES or isinstance(tree[key], (dict, list)):
            copy[key] = draw(mutated(tree[key], depth + 1))
        else:
            copy[key] = draw(maybe(ALTERNATIVES[key]))
        return copy
    if isinstance(tree, list) and tree and draw(st.integers(0, 3)) > 0:
        index = draw(st.integers(0, len(tree) - 1))
        copy = list(tree)
        choice = draw(st.integers(0, 3))
        if choice == 0:
            del copy[index]
        elif choice == 1:
            copy.append(draw(mutated(tree[index], depth + 1)))
        else:
            copy[index] = draw(mutated(tree[index], depth + 1))
        return copy
    return draw(junk)


@st.composite
def scenario_texts(draw: st.DrawFn, escape: Path) -> str:
    tree: Any = BASE
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        tree = draw(mutated(tree))
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    text = text.replace("%ESCAPE%", str(escape / "abs"))
    if draw(st.integers(0, 9)) == 0:  # sometimes cut short: a YAML syntax error
        text = text[: draw(st.integers(0, len(text)))]
    return text


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Turn a hang into a failure: SIGALRM raises in the main thread after ``seconds``."""

    def stuck(signum: int, frame: object) -> None:
        raise TimeoutError(f"the command took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(args: list[str]) -> Result:
    with alarm(HANG_S):
        result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {result.exception!r}\n{result.output}"
    )
    assert result.exit_code in (0, 2), result.output
    return result


def every_path(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*")}


def runs_in_python(path: Path) -> bool:
    """Whether the scenario loads and runs without containers (no engine is used here)."""
    try:
        scenario = load_scenario(path)
    except ScenarioError:
        return True  # simulate must refuse it, starting nothing
    return all(spec.implementation == "python_model" for spec in scenario.nodes)


@pytest.fixture(scope="module")
def escape_dir() -> Iterator[Path]:
    """A directory beside the working directories, named in some scenario names."""
    with tempfile.TemporaryDirectory(prefix="xedge-fuzz-escape-") as directory:
        yield Path(directory)


# XEDGE_FUZZ_EXAMPLES=2000 searches longer, with fresh random inputs each time.
EXAMPLES = os.environ.get("XEDGE_FUZZ_EXAMPLES")


@settings(max_examples=int(EXAMPLES or 80), deadline=None, derandomize=EXAMPLES is None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_scenarios_never_crash_hang_or_write_elsewhere(
    data: st.DataObject, escape_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = data.draw(scenario_texts(escape_dir))
    with tempfile.TemporaryDirectory(prefix="xedge-fuzz-") as directory:
        work = Path(directory)
        monkeypatch.chdir(work)
        scenario = work / "s.yaml"
        scenario.write_text(text, encoding="utf-8")
        before = every_path(work)
        validated = invoke(["validate", str(scenario)])
        event(f"validate exit {validated.exit_code}")
        assert every_path(work) == before  # validate writes nothing
        if validated.exit_code == 2:
            assert f"{scenario}:" in validated.output or "s.yaml" in validated.output
        if runs_in_python(scenario):
            out = work / "out"
            event("simulated")
            simulated = invoke(["simulate", str(scenario), "--out", str(out), "--quiet",
                                "--no-progress", "--records"])
            assert simulated.exit_code == validated.exit_code, simulated.output
            written = {path for path in every_path(work) - before if path.parts[0] != "out"}
            assert written == set(), f"written outside --out: {sorted(map(str, written))}"
            if simulated.exit_code == 2:
                assert not out.exists()  # nothing half-written
        monkeypatch.chdir(Path(__file__).parent)
    assert list(escape_dir.iterdir()) == []


@pytest.mark.parametrize("target", ["nope.yaml", "/dev/zero", "."])
def test_file_level_problems_start_with_the_file(target: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(["validate", target])
    assert result.exit_code == 2
    assert result.output.splitlines()[0].startswith(f"{target}: ")
    assert os.listdir(tmp_path) == []


def _laughs() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "duration: 1s\nnodes: [{id: c, type: cloud, docker: *a9}]\n" + "\n".join(lines) + "\n"


HOSTILE = {
    "alias bomb": _laughs(),
    "deep nesting": "duration: " + "[" * 5000 + "]" * 5000 + "\n",
    "NUL and bad escapes": 'name: "a\\0b"\nduration: "\\ud800s"\nnodes: [{id: "\\0", type: x}]\n',
    "huge integer": "duration: 1s\nseed: " + "9" * 5000 + "\nnodes: [{id: c, type: cloud}]\n",
    "huge exponent": "duration: 1e999999999999s\nnodes: [{id: c, type: cloud}]\n",
    "a billion sensors": "duration: 1s\nnodes: [{id: s, type: sensor, count: 1000000000, "
    "interval: 1s, to: c}, {id: c, type: cloud}]\n",
    "100 kB topic": "duration: 1s\nnodes: [{id: s, type: sensor, interval: 1s, to: c, topic: "
    + "t" * 100_000 + "}, {id: c, type: cloud}]\n",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_files_are_refused_quickly_with_a_location(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("s.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    for command in (["validate", "s.yaml"], ["simulate", "s.yaml", "--out", "out"]):
        result = invoke(command)
        assert result.exit_code == 2
        assert result.output.startswith("s.yaml:")
    assert os.listdir(tmp_path) == ["s.yaml"]
