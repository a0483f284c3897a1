"""Where the project's non-Python files are: the image build contexts, the Ansible content,
the infra test suite and the host setup script, which ``xedge images``, ``stage``, ``deploy``
and ``verify`` need.

In the repository they stay at the top level (``images/``, ``playbooks/``, ``roles/``, …),
where people and ansible-lint expect them. A wheel carries a copy of the same files as
package data under ``xedgesim/_project/`` (``setup.py`` copies ``SHIPPED`` there at build
time), so an installed ``xedge`` (``pip install .``, ``pipx install .``) needs no checkout.
``project_root`` is the one place that decides which copy a command uses.

Only the standard library is imported here: ``setup.py`` loads this file to know what to ship.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from xedgesim.errors import XedgeError

SETUP_SCRIPT = "scripts/setup-host"  # prepares a host: engine, debootstrap, qemu
# pyproject.toml: the infra suite runs under the checkout's pytest settings wherever it is.
SHIPPED = ("ansible.cfg", "images", "inventories", "playbooks", "pyproject.toml", "roles",
           SETUP_SCRIPT, "tests/infra")
PACKAGED = "_project"  # xedgesim/_project/ in a wheel
ENVIRONMENT = "XEDGESIM_PROJECT"  # a directory laid out like the checkout, to use instead
IGNORED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".hypothesis", ".DS_Store"})
IGNORED_SUFFIXES = (".pyc", ".pyo", "~")


class ProjectFilesMissing(XedgeError):
    """Neither a checkout, nor the packaged copy, nor ``$XEDGESIM_PROJECT`` has the files."""


def missing(root: Path) -> list[str]:
    """The entries of ``SHIPPED`` that ``root`` lacks."""
    return [entry for entry in SHIPPED if not (root / entry).exists()]


def project_root(package: Path | None = None) -> Path:
    """``$XEDGESIM_PROJECT`` if set; else the checkout this package (``package``: the
    ``xedgesim`` directory) runs from, as in an editable install; else the copy inside the
    installed package."""
    if configured := os.environ.get(ENVIRONMENT):
        root = Path(configured).expanduser().resolve()
        if len(missing(root)) == len(SHIPPED):  # a partial tree is for the caller to judge
            raise ProjectFilesMissing(
                f"{ENVIRONMENT}={configured}: {root} has none of {', '.join(SHIPPED)} (it "
                "must be laid out like an xedgesim checkout); unset it to use the installed "
                "copy")
        return root
    package = package or Path(__file__).resolve().parent
    candidates = (package.parent, package / PACKAGED)
    for root in candidates:
        if not missing(root):
            return root
    raise ProjectFilesMissing(
        f"the project files ({', '.join(SHIPPED)}) are neither in a checkout at "
        f"{candidates[0]} nor packaged at {candidates[1]}: reinstall xedgesim from a wheel "
        f"built with its setup.py, or set {ENVIRONMENT} to a checkout")


def setup_command() -> str:
    """How to prepare this host (engine, debootstrap, qemu), with the script's real path, so
    the hint works for an installed xedge too."""
    try:
        script: Path | None = project_root() / SETUP_SCRIPT
    except ProjectFilesMissing:
        script = None
    if script is None or not script.is_file():
        return f"sudo bash {SETUP_SCRIPT} (in an xedgesim checkout)"
    return f"sudo bash {script}"


def ignored(relative: Path) -> bool:
    """Caches and editor droppings, never shipped."""
    return any(part in IGNORED_NAMES for part in relative.parts) \
        or relative.name.endswith(IGNORED_SUFFIXES)


def shipped_files(source: Path) -> Iterator[Path]:
    """The files of ``SHIPPED`` under ``source``, relative to it, in sorted order.

    In a git checkout only tracked files ship, so a site's own ``inventories/*/secrets.yml``
    or a vault password file next to the examples can never end up in a wheel; elsewhere
    (an unpacked sdist, which was made by this same rule) every file does.
    """
    tracked = git_tracked(source)
    for entry in SHIPPED:
        path = source / entry
        if not path.exists():
            raise ProjectFilesMissing(f"{path} is missing: it ships with the package")
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in found:
            relative = file.relative_to(source)
            if ignored(relative) or (tracked is not None and relative not in tracked):
                continue
            yield relative


def git_tracked(source: Path) -> set[Path] | None:
    """The files git tracks under ``source``, or None when it is no git work tree."""
    if not (source / ".git").exists():
        return None
    try:
        listed = subprocess.run(["git", "-C", str(source), "ls-files", "-z", "--", *SHIPPED],
                                capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise ProjectFilesMissing(f"{source} is a git checkout, but `git ls-files` failed "
                                  f"({error}): cannot tell which files may ship") from None
    return {Path(name) for name in listed.decode().split("\0") if name}
