"""Where the project's Ansible content and infra tests live, and where runs write.

The playbooks, roles and ``tests/infra`` ship in the source checkout, not in the Python
package, so they are found next to the package (an editable install or a checkout) or where
``$XEDGESIM_PROJECT`` points. A missing checkout is a clear error, not a traceback later.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from xedgesim.deploy.errors import UsageError

PLAYBOOKS = ("stage", "site", "verify", "rollback")
RUNS = Path("runs")


def project_root() -> Path:
    """The checkout holding ``playbooks/`` and ``tests/infra/``."""
    configured = os.environ.get("XEDGESIM_PROJECT")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2]
    if not (root / "tests" / "infra").is_dir():
        raise UsageError(
            f"no xedgesim checkout at {root} (expected tests/infra/ and playbooks/): "
            "run from a source checkout or set XEDGESIM_PROJECT"
        )
    return root.resolve()


def playbook(name: str, root: Path | None = None) -> Path:
    """``playbooks/<name>.yml`` of the checkout; a missing one says which file was expected."""
    path = (root or project_root()) / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise UsageError(f"playbook {path} is missing (the Ansible content of the checkout)")
    return path


def infra_tests(root: Path | None = None) -> Path:
    """``tests/infra``: the verification suite, run against any inventory."""
    return (root or project_root()) / "tests" / "infra"


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


def new_run_dir(kind: str, base: Path = RUNS) -> Path:
    """A new ``runs/<kind>-<timestamp>`` directory (``-2``, ``-3``… within the same second)."""
    first = timestamped(kind, base=base)
    candidate, number = first, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1
            candidate = first.with_name(f"{first.name}-{number}")
