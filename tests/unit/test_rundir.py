"""The one run-directory policy: whole or nothing, and only what xedge made is ever replaced."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest

from xedgesim.interrupts import Interrupted, signals_as_interrupt
from xedgesim.rundir import MARKER, OutputError, RunIdentity, foreign_content, run_directory

RUN = RunIdentity("run", "demo", seed=7)


def write_run(out: Path, identity: RunIdentity = RUN, files: tuple[str, ...] = ("a.json",)) -> None:
    with run_directory(out, identity) as staging:
        for name in files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(name)


def test_the_marker_names_the_run_and_everything_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with run_directory(out, RUN) as staging:
        (staging / "summary.json").write_text("{}")
        (staging / "logs").mkdir()
        (staging / "logs" / "broker.log").write_text("log")
        (staging / "empty").mkdir()
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "run" and marker["scenario"] == "demo" and marker["seed"] == 7
    assert marker["files"] == ["logs/broker.log", "summary.json"]
    assert marker["folders"] == ["empty", "logs"] and marker["runs"] == []
    assert foreign_content(out) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_run_directory_gets_the_users_usual_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_run(tmp_path / "run")
    finally:
        os.umask(previous)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755


def test_an_earlier_run_is_replaced_with_no_leftover(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_run(out, files=("old.json", "logs/x.log"))
    write_run(out, files=("new.json",))
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "new.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_empty_directory_may_be_used(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    write_run(out)
    assert (out / "a.json").exists()


@pytest.mark.parametrize("make", [
    lambda out: (out / "x.txt").write_text("mine"),
    lambda out: (out / MARKER).write_text("not json"),
    lambda out: (out / MARKER).write_text('{"kind": "run"}'),
    lambda out: ((out / MARKER).write_text(json.dumps(
        {"kind": "run", "files": [], "folders": [], "runs": []})), (out / "b").write_text("b")),
])
def test_a_directory_xedge_did_not_make_is_never_touched(tmp_path: Path, make) -> None:
    out = tmp_path / "run"
    out.mkdir()
    make(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OutputError, match=f"run directory {out} .*nothing was touched"):
        write_run(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_symbolic_link_inside_or_as_the_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_run(out)
    (out / "link").symlink_to(tmp_path)
    with pytest.raises(OutputError, match="holds link, a symbolic link xedge did not write"):
        write_run(out)
    (tmp_path / "alias").symlink_to(out)
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_run(tmp_path / "alias")


def test_a_run_inside_a_run_directory_is_checked_by_its_own_marker(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with run_directory(out, RunIdentity("sweep", "demo", seeds=(1, 2))) as staging:
        for seed in (1, 2):
            write_run(staging / f"seed-{seed}", RunIdentity("run", "demo", seed=seed))
    marker = json.loads((out / MARKER).read_text())
    assert marker["runs"] == ["seed-1", "seed-2"] and marker["seeds"] == [1, 2]
    assert foreign_content(out) is None
    (out / "seed-2" / MARKER).unlink()
    assert foreign_content(out) == (
        f"holds seed-2, which exists and is not from an xedge run (it has no valid {MARKER})")


def test_a_file_that_appears_during_the_run_stops_the_replacement(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_run(out)
    with pytest.raises(OutputError, match=r"holds late\.txt"), run_directory(out, RUN) as staging:
        (staging / "a.json").write_text("new")
        (out / "late.txt").write_text("written while the run went on")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.json", "late.txt"]
    assert (out / "a.json").read_text() == "a.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_error_leaves_nothing_not_even_the_parents_it_made(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), run_directory(tmp_path / "a" / "b" / "run", RUN) as staging:
        (staging / "half.csv").write_text("half")
        raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"No space left on device.*nothing was written"), \
            run_directory(tmp_path / "run", RUN):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert list(tmp_path.iterdir()) == []


def test_a_signal_during_the_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    write_run(out)
    with pytest.raises(Interrupted) as caught, signals_as_interrupt(), \
            run_directory(out, RUN) as staging:
        (staging / "a.json").write_text("new")
        os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.signum == signal.SIGTERM and caught.value.kept is None
    assert (out / "a.json").read_text() == "a.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_signal_while_the_run_is_put_in_place_finishes_that_and_says_so(
        tmp_path: Path, monkeypatch, sigint_handled: None) -> None:
    import xedgesim.rundir

    out = tmp_path / "run"
    real_replace = xedgesim.rundir._replace

    def signalled_replace(staging: Path, target: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # held until the rename is done
        real_replace(staging, target)

    monkeypatch.setattr(xedgesim.rundir, "_replace", signalled_replace)
    with pytest.raises(Interrupted) as caught, signals_as_interrupt():
        write_run(out)
    assert caught.value.kept == out
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_name_too_long_for_the_staging_directory_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="too long"):
        write_run(tmp_path / ("x" * 250))
    with pytest.raises(OutputError, match="contains a NUL byte"):
        write_run(tmp_path / "a\0b")
    assert list(tmp_path.iterdir()) == []
