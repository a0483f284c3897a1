"""Opening a fleet: its inventory, the overlays layered under it, the release to expect and
the secrets to log in with, resolved once and read the same way by every command.

``deploy``, ``verify``, the steps of ``stage``, the idempotence snapshot and the verification
suite (``tests/infra``, in its own pytest process) all call ``open_fleet``, so a value set only
in an overlay (``inventories/production.yml``) is the value each of them sees. The variables
are what Ansible resolves for a play of the roles: the roles' ``defaults/main.yml`` (lowest
precedence), then ``ansible-inventory --list`` over the overlays and the inventory, given to
it as inventory sources in the order ansible-runner gets them. The suite's process gets the
fleet through environment variables naming files (``suite_env``/``from_env``), never secret
values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from xedgesim.deploy import inventory as inventory_module
from xedgesim.deploy import paths, state
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.inventory import Inventory, InventoryHost

# the environment the verification suite reads (tests/infra/conftest.py)
ENV_OVERLAYS = "XEDGESIM_INVENTORY_OVERLAYS"
ENV_RELEASE = "XEDGESIM_RELEASE_FILE"
ENV_SECRETS = "XEDGESIM_SECRETS_FILE"


@dataclass(frozen=True)
class FleetView:
    """A fleet as the commands see it (``fleet.Fleet`` is the staging fleet's containers)."""

    inventory: Path
    overlays: tuple[Path, ...]
    hosts: tuple[InventoryHost, ...]
    release_file: Path | None = None  # the release the suite expects (verification)
    secrets: Path | None = None  # the MQTT users' file; None: the inventory's vault

    @property
    def sources(self) -> tuple[Path, ...]:
        """The inventory sources, in the order ansible-runner and ansible-inventory get them."""
        return (*self.overlays, self.inventory)

    @property
    def arches(self) -> tuple[str, ...]:
        return tuple(sorted({host.arch for host in self.hosts}))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(host.name for host in self.hosts)

    def host(self, name: str) -> InventoryHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def with_release(self, release_file: Path) -> FleetView:
        return replace(self, release_file=release_file.resolve())

    def suite_env(self) -> dict[str, str]:
        """What the verification suite's process needs to open this same fleet."""
        env = {ENV_OVERLAYS: os.pathsep.join(str(path.resolve()) for path in self.overlays)}
        if self.release_file is not None:
            env[ENV_RELEASE] = str(self.release_file.resolve())
        if self.secrets is not None:
            env[ENV_SECRETS] = str(self.secrets.resolve())
        return env


def open_fleet(inventory: Path, overlays: Sequence[Path] | None = None, *,
               release_file: Path | None = None, secrets: Path | None = None,
               project: Path | None = None) -> FleetView:
    """The fleet of ``inventory``: ``overlays`` default to those of the stage run the inventory
    belongs to (``overlays_for``: with the settings rendered from its scenario), else the
    production overlay; ``secrets`` to the stage run's (``secrets_for``). An inventory that
    breaks the contract (``Inventory.problems``) is a usage error."""
    root = project or paths.project_root()
    if overlays is None:
        overlays = overlays_for(inventory)
    if overlays is None:
        overlay = paths.production_overlay(root)
        overlays = [overlay] if overlay else []
    listed = inventory_module.load(inventory, overlays=overlays)
    if problems := listed.problems():
        raise UsageError("inventory problems:\n  " + "\n  ".join(problems))
    return FleetView(inventory, tuple(overlays), with_role_defaults(listed, role_defaults(root)),
                     release_file, secrets_for(inventory, secrets))


def from_env(inventory: Path, environ: Mapping[str, str] | None = None,
             project: Path | None = None) -> FleetView:
    """The fleet ``suite_env`` describes (the suite's side): overlays from
    ``$XEDGESIM_INVENTORY_OVERLAYS`` (unset: the production overlay, as ``xedge verify``;
    empty: none), the release and secrets files from theirs."""
    environ = os.environ if environ is None else environ
    listed = environ.get(ENV_OVERLAYS)
    overlays = None if listed is None else [Path(p) for p in listed.split(os.pathsep) if p]
    release = environ.get(ENV_RELEASE)
    secrets = environ.get(ENV_SECRETS)
    return open_fleet(inventory, overlays, release_file=Path(release) if release else None,
                      secrets=Path(secrets) if secrets else None, project=project)


def role_defaults(root: Path) -> dict[str, Any]:
    """Every role's ``defaults/main.yml``, merged: the lowest precedence Ansible gives a
    variable, so a check reads a role's default from the role, never from a copy of it."""
    merged: dict[str, Any] = {}
    for path in sorted((root / "roles").glob("*/defaults/main.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def with_role_defaults(listed: Inventory, defaults: Mapping[str, Any]) -> tuple[InventoryHost,
                                                                                ...]:
    return tuple(InventoryHost(host.name, {**defaults, **host.vars}) for host in listed.hosts)


def overlays_for(inventory: Path) -> list[Path] | None:
    """The overlays the stage run whose inventory this is recorded (the production one, and
    the settings rendered from its scenario), so ``xedge verify`` of a kept staging fleet
    checks what the run deployed; None for any other inventory."""
    for candidate in (inventory.resolve().parent.parent, inventory.resolve().parent):
        if (candidate / state.FILE_NAME).is_file():
            recorded = state.load(candidate).overlays
            return [Path(path) for path in recorded] if recorded else None
    return None


def secrets_for(inventory: Path, given: Path | None) -> Path | None:
    """``--secrets``, else the secrets of the stage run whose inventory this is (a kept
    staging fleet: ``runs/stage-…/inventory/hosts.yml``), else none (the inventory's vault)."""
    if given is not None:
        return given
    for candidate in (inventory.resolve().parent.parent, inventory.resolve().parent):
        if (candidate / state.FILE_NAME).is_file():
            recorded = state.load(candidate).secrets
            return Path(recorded) if recorded else None
    return None
