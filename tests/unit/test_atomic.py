"""xedgesim/atomic.py: a file is replaced whole or not at all, even when the writer dies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import default_sigint
from xedgesim import atomic


def test_json_is_written_whole_with_a_final_newline(tmp_path: Path) -> None:
    path = atomic.write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, None]}, mode=0o600)

    assert path.read_text() == '{\n  "a": [\n    1.5,\n    null\n  ],\n  "b": 1\n}\n'
    assert path.stat().st_mode & 0o777 == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["a.json"]


def test_nan_is_refused_and_the_old_file_stays(tmp_path: Path) -> None:
    path = atomic.write_json(tmp_path / "a.json", {"old": True})

    with pytest.raises(ValueError, match="JSON compliant"):
        atomic.write_json(path, {"new": float("nan")})

    assert json.loads(path.read_text()) == {"old": True}
    assert [entry.name for entry in tmp_path.iterdir()] == ["a.json"]


def test_an_error_mid_stream_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = atomic.write_text(tmp_path / "archive.tar", "old")

    with pytest.raises(OSError, match="connection reset"), atomic.replacing(path) as stream:
        stream.write(b"half of the new")
        raise OSError("connection reset")

    assert path.read_text() == "old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["archive.tar"]


def test_an_error_mid_stream_leaves_nothing_where_there_was_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic.replacing(tmp_path / "new.json") as stream:
        stream.write(b"{")
        raise RuntimeError("killed")

    assert list(tmp_path.iterdir()) == []


WRITER = """
import sys, time
from pathlib import Path
from xedgesim import atomic
with atomic.replacing(Path(sys.argv[1])) as stream:
    stream.write(b"new bytes, not yet all of them")
    stream.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("existed", [True, False], ids=["old-file", "no-file"])
def test_sigkill_mid_write_leaves_the_old_file_or_nothing(tmp_path: Path, existed: bool) -> None:
    path = tmp_path / "manifest.json"
    if existed:
        path.write_text("old")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                              text=True,
                              preexec_fn=default_sigint)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        writer.kill()
        writer.wait(timeout=10)
    finally:
        writer.kill()
        writer.wait(timeout=10)

    assert (path.read_text() if path.exists() else None) == ("old" if existed else None)
    leftovers = [entry.name for entry in tmp_path.iterdir() if entry != path]
    assert all(name.startswith(".manifest.json.") and name.endswith(".part")
               for name in leftovers) and len(leftovers) == 1
