"""Where the project's Ansible content and infra tests live, and where runs write.

The playbooks, roles and ``tests/infra`` are found by ``xedgesim.project``: in the checkout
the package runs from, else in the copy an installed package carries, or where
``$XEDGESIM_PROJECT`` points. Missing files are a clear error, not a traceback later.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from xedgesim import project, rundir
from xedgesim.deploy.errors import UsageError

PLAYBOOKS = ("stage", "site", "verify", "rollback")
RUNS = Path("runs")


def project_root() -> Path:
    """The directory holding ``playbooks/``, ``roles/`` and ``tests/infra/``: the checkout, or
    the copy an installed package carries (``xedgesim.project``)."""
    try:
        return project.project_root()
    except project.ProjectFilesMissing as error:
        raise UsageError(str(error)) from None


def playbook(name: str, root: Path | None = None) -> Path:
    """``playbooks/<name>.yml`` of the checkout; a missing one says which file was expected."""
    path = (root or project_root()) / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise UsageError(f"playbook {path} is missing (the Ansible content of the checkout)")
    return path


def infra_tests(root: Path | None = None) -> Path:
    """``tests/infra``: the verification suite, run against any inventory."""
    path = (root or project_root()) / "tests" / "infra"
    if not path.is_dir():
        raise UsageError(f"{path} is missing (the verification suite of the project files)")
    return path


def ansible_config(root: Path | None = None) -> Path | None:
    """The checkout's ``ansible.cfg``, if it has one."""
    path = (root or project_root()) / "ansible.cfg"
    return path if path.is_file() else None


def timestamped(kind: str, now: float | None = None, base: Path = RUNS) -> Path:
    """``runs/<kind>-<YYYYmmdd-HHMMSS>``: a new directory name per run, in local time."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return base / f"{kind}-{stamp}"


def releases_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's manifest store, the same whichever directory ``stage`` and ``deploy`` run in:
    ``$XEDGESIM_RELEASES``, else ``$XDG_STATE_HOME/xedgesim/releases`` (the XDG base directory
    for state that outlives a run but is no user document), by default
    ``~/.local/state/xedgesim/releases``. A relative ``XDG_STATE_HOME`` is ignored, as the
    XDG specification says."""
    environ = os.environ if environ is None else environ
    if configured := environ.get("XEDGESIM_RELEASES"):
        return Path(configured).expanduser()
    state = environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "xedgesim" / "releases"


def production_overlay(root: Path | None = None) -> Path | None:
    """``inventories/production.yml``: the production settings, an inventory source read
    before the fleet's own, so the fleet's inventory can still override a value."""
    path = (root or project_root()) / "inventories" / "production.yml"
    return path if path.is_file() else None


def run_dir(out: Path | None, kind: str, occupied_hint: str = "") -> Path:
    """``--out`` when it is a new or empty place a run may use (``rundir.check_target``), else
    a fresh ``runs/<kind>-…``: a typo must never reuse someone's files. Marked as a ``kind``
    run (``rundir.mark_live``). ``occupied_hint`` follows the refusal of a non-empty ``--out``."""
    if out is not None:
        if out.is_dir() and not out.is_symlink() and any(out.iterdir()):
            raise UsageError(f"{out} exists and is not empty{occupied_hint}; choose another --out")
        rundir.check_target(out)
        out.mkdir(parents=True, exist_ok=True)
        rundir.mark_live(out, kind)
        return out
    return new_run_dir(kind)


def new_run_dir(kind: str, base: Path = RUNS) -> Path:
    """A new ``runs/<kind>-<timestamp>`` directory (``-2``, ``-3``… within the same second)."""
    first = timestamped(kind, base=base)
    candidate, number = first, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            rundir.mark_live(candidate, kind)
            return candidate
        except FileExistsError:
            number += 1
            candidate = first.with_name(f"{first.name}-{number}")
