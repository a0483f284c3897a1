"""Run directories, one policy for every command that writes one.

* **All or nothing.** A run is written into a hidden staging directory next to its place
  (``.<name>.xedge-new-<random>``) and renamed into place only when complete; an error, Ctrl-C
  or SIGTERM removes the staging directory and any parent directory the run created.
* **Nothing a user owns is touched.** An existing directory is replaced only when xedge
  provably made it: its marker file (``.xedgesim-run.json``, written last) records the run's
  identity and every file the run wrote, and nothing else is in it now. Anything else (a
  directory xedge did not make, a file a user added to a run) refuses the run before it starts:
  :class:`OutputError`, naming the directory, and nothing is touched.
* **A bad place is a message.** ``.``, ``..``, the current directory or one above it, a path
  under ``/proc``, ``/sys`` or ``/dev``, a path below a regular file, a symbolic link, a mount
  point, an unwritable directory: each is refused with a sentence, not a traceback.

A directory of runs (a sweep's ``seed-<n>/``) lists them in its marker; each is checked by its
own marker in turn. Other commands adopt the policy by writing through :func:`run_directory`
with their own ``kind``.

``xedge stage`` and ``xedge deploy`` write their run directory as they go (a kept fleet's state
lives there between steps), so it cannot be all or nothing: their ``--out`` is checked by
:func:`check_target` like any other, and :func:`mark_live` gives the directory a marker of its
kind that lists no files. Nothing ever replaces such a directory, and ``--step`` checks the
kind (:func:`require_kind`) before it acts on the fleet a directory records.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from xedgesim import __version__
from xedgesim.errors import BadInput
from xedgesim.interrupts import Interrupted, deferred

MARKER = ".xedgesim-run.json"
MAX_MARKER_BYTES = 16 * 1024 * 1024
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))
_HIDDEN_SUFFIX_CHARS = 24  # ".<name>.xedge-old-" + 8 hex characters, beyond the name itself
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                errno.EIO}


class OutputError(BadInput):
    """The run directory cannot be used or written; nothing was touched."""


@dataclass(frozen=True)
class RunIdentity:
    """What made a run directory: recorded in its marker, for the user and for replacing it."""

    kind: str  # "run", "sweep"
    scenario: str
    seed: int | None = None
    seeds: tuple[int, ...] = field(default=())

    def marker(self, files: list[str], folders: list[str], runs: list[str]) -> dict:
        identity = {"kind": self.kind, "scenario": self.scenario,
                    "xedgesim_version": __version__, "files": files, "folders": folders,
                    "runs": runs}
        if self.seed is not None:
            identity["seed"] = self.seed
        if self.seeds:
            identity["seeds"] = list(self.seeds)
        return identity


@contextmanager
def run_directory(out: Path, identity: RunIdentity) -> Iterator[Path]:
    """A staging directory that takes ``out``'s place only when the block completes.

    ``out`` is checked before the block runs (so a long run is not wasted on a bad ``--out``)
    and again just before it is replaced.
    """
    out = Path(out)
    check_target(out)
    created = _make_parents(out.parent)
    committed = False
    staging: Path | None = None
    try:
        staging = _hidden_dir(out, "new", create=True)
        try:
            yield staging
        except KeyboardInterrupt as error:
            error.kept = None  # an inner run committed into ``staging`` is gone with it
            raise
        _write_marker(staging, identity)
        try:
            with deferred():
                check_target(out)  # nothing foreign appeared while the run was going
                _replace(staging, out)
                committed = True
        except Interrupted as error:
            error.kept = out if committed else None
            raise
    except OSError as error:
        if error.errno in _DISK_ERRORS:
            raise OutputError(f"cannot write the run directory {out}: {error.strerror}"
                              f"{f' ({error.filename})' if error.filename else ''}; "
                              "nothing was written") from None
        raise
    finally:
        if not committed:
            with deferred():
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                for directory in reversed(created):
                    with suppress(OSError):  # a directory someone filled meanwhile stays
                        directory.rmdir()


def check_target(out: Path) -> None:
    """Refuse, with a sentence naming the directory, a place a run may not write to or replace."""
    text = str(out)
    if "\0" in text:
        raise OutputError(f"run directory {text!r} contains a NUL byte")
    if out.name in ("", ".", ".."):
        raise OutputError(f"run directory {out} is a directory itself ('.', '..' or '/'), not "
                          f"the name of a run: give one, e.g. {out / 'run'}")
    if len(os.fsencode(out.name)) + _HIDDEN_SUFFIX_CHARS > 255:
        raise OutputError(f"run directory name {out.name[:40]}… is too long "
                          f"(at most {255 - _HIDDEN_SUFFIX_CHARS} bytes)")
    try:
        resolved = out.parent.resolve() / out.name
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as error:
        raise OutputError(f"run directory {out}: {_reason(error)}") from None
    if resolved == cwd or resolved in cwd.parents:
        raise OutputError(f"run directory {out} is the current directory or one above it: "
                          "give the name of a new directory")
    for root in PSEUDO_FILESYSTEMS:
        if resolved == root or root in resolved.parents:
            raise OutputError(f"run directory {out} is under {root}, a system pseudo-filesystem: "
                              "choose a directory on disk")
    existing = _first_existing(out.parent)
    if not existing.is_dir():
        raise OutputError(f"run directory {out} is below {existing}, which is a file, not a "
                          "directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"run directory {out}: cannot write in {existing} (permission denied)")
    if not os.path.lexists(out):
        return
    if out.is_symlink():
        raise OutputError(f"run directory {out} is a symbolic link: give the directory itself")
    if not out.is_dir():
        raise OutputError(f"run directory {out} exists and is not a directory; nothing was "
                          "touched: choose another --out")
    if os.path.ismount(out):
        raise OutputError(f"run directory {out} is a mount point: give a directory inside it")
    problem = foreign_content(out)
    if problem is not None:
        raise OutputError(f"run directory {out} {problem}; nothing was touched: choose another "
                          "--out, or move that away")


def foreign_content(directory: Path) -> str | None:
    """What in ``directory`` xedge did not write (a phrase), or None when nothing is: the
    directory is empty, or its marker lists everything in it."""
    try:
        if not any(os.scandir(directory)):
            return None
    except OSError as error:
        return f"cannot be read ({_reason(error)})"
    marker = read_marker(directory)
    if marker is None:
        return f"exists and is not from an xedge run (it has no valid {MARKER})"
    files, folders, runs = (set(marker[key]) for key in ("files", "folders", "runs"))
    pending = [""]
    while pending:
        prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory / prefix), key=lambda e: e.name)
        except OSError as error:
            return f"cannot be read ({_reason(error)})"
        for entry in entries:
            name = f"{prefix}{entry.name}"
            if entry.is_symlink():
                return f"holds {name}, a symbolic link xedge did not write"
            if entry.is_dir():
                if name in runs:
                    inner = foreign_content(Path(entry.path))
                    if inner is not None:
                        return f"holds {name}, which {inner}"
                elif name in folders:
                    pending.append(f"{name}/")
                else:
                    return f"holds {name}/, which xedge did not write"
            elif name not in files and name != MARKER:
                return f"holds {name}, which xedge did not write"
    return None


def mark_live(directory: Path, kind: str) -> None:
    """Mark ``directory`` as a ``kind`` run that is written as it goes (see the module)."""
    from xedgesim import atomic

    atomic.write_json(directory / MARKER, {"kind": kind, "xedgesim_version": __version__,
                                           "files": [], "folders": [], "runs": []})


def record_outputs(directory: Path, names: list[str]) -> None:
    """Add files a later command writes into a finished run (``xedge plot``'s ``plots/``,
    ``xedge report``'s HTML) to its marker, before they are written: the run stays one that
    xedge provably made, and a later run may still replace it whole."""
    marker = read_marker(directory)
    if marker is None:
        raise OutputError(f"{directory} has no valid {MARKER}: not a run directory of xedge")
    files, folders = set(marker["files"]), set(marker["folders"])
    for name in names:
        files.add(name)
        parts = name.split("/")[:-1]
        folders.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    marker["files"], marker["folders"] = sorted(files), sorted(folders)
    from xedgesim import atomic

    atomic.write_text(directory / MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n")


def require_kind(directory: Path, kind: str) -> None:
    """Refuse a run directory whose marker names another kind of run (a deploy's for a
    stage's); a directory without a marker is left to the caller's own check."""
    marker = read_marker(directory)
    if marker is not None and marker["kind"] != kind:
        raise OutputError(f"{directory} is a run of `xedge {marker['kind']}`, not of "
                          f"`xedge {kind}`: give the --out of a {kind} run")


def read_marker(directory: Path) -> dict | None:
    """The marker of a run directory, or None when it is missing or not one xedge wrote."""
    path = directory / MARKER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MARKER_BYTES:
            return None
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("kind"), str):
        return None
    for key in ("files", "folders", "runs"):
        if not isinstance(marker.get(key), list) or \
                not all(isinstance(name, str) for name in marker[key]):
            return None
    return marker


def _write_marker(staging: Path, identity: RunIdentity) -> None:
    """List what the run wrote: files, folders, and folders that are runs with their own
    marker (checked by it when the directory is replaced)."""
    files, folders, runs = [], [], []
    pending = [""]
    while pending:
        prefix = pending.pop()
        for entry in os.scandir(staging / prefix):
            name = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if os.path.isfile(os.path.join(entry.path, MARKER)):
                    runs.append(name)
                else:
                    folders.append(name)
                    pending.append(f"{name}/")
            else:
                files.append(name)
    marker = identity.marker(sorted(files), sorted(folders), sorted(runs))
    text = json.dumps(marker, indent=1, sort_keys=True)
    (staging / MARKER).write_text(text + "\n", encoding="utf-8")


def _replace(staging: Path, out: Path) -> None:
    """Put ``staging`` in ``out``'s place; an earlier run there is removed only afterwards."""
    if not os.path.lexists(out):
        os.rename(staging, out)
        return
    old = _hidden_dir(out, "old", create=False)
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _hidden_dir(out: Path, role: str, *, create: bool) -> Path:
    """A fresh hidden name next to ``out``; created with the user's umask when ``create``."""
    while True:
        candidate = out.parent / f".{out.name}.xedge-{role}-{secrets.token_hex(4)}"
        if os.path.lexists(candidate):
            continue
        if create:
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
        return candidate


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; returns those created, outermost first."""
    missing = []
    while not os.path.lexists(directory):
        missing.append(directory)
        directory = directory.parent
    created = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            for done in reversed(created):
                with suppress(OSError):  # a directory someone filled meanwhile stays
                    done.rmdir()
            raise OutputError(f"cannot create {path}: {_reason(error)}") from None
        created.append(path)
    return created


def _first_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)
