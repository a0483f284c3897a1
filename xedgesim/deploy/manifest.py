"""Release manifests: what a passing ``xedge stage`` proved, and what ``xedge deploy`` trusts.

A manifest names the images (per architecture, by image id), the scenario they were
simulated with (its hash), the verification that passed (tests, failures, the JUnit file,
idempotence) and when. It holds no secret: only names, digests, counts and paths. It is
written into the run directory and recorded in the manifest store (``<id>.json`` in the
user's store, ``paths.releases_dir``), which is what ``deploy`` consults.

Deploy vouches per architecture: the exact set of service images it would ship to the amd64
hosts must have passed staging together, and likewise for arm64. A broker that passed with
one gateway is not vouched for next to another.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xedgesim
from xedgesim import atomic
from xedgesim.deploy.errors import ReleaseRefused, UsageError
from xedgesim.deploy.release import Release

SCHEMA = 1
FILE_NAME = "manifest.json"


@dataclass(frozen=True)
class Verification:
    """The outcome of the verify step (and the idempotence check) of a stage run."""

    passed: bool
    tests: int
    failures: int
    errors: int
    skipped: int
    junit: str  # path of the JUnit XML, relative to the run directory
    idempotent: bool | None = None
    hosts: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "tests": self.tests, "failures": self.failures,
            "errors": self.errors, "skipped": self.skipped, "junit": self.junit,
            "idempotent": self.idempotent, "hosts": list(self.hosts),
        }


def build(release: Release, verification: Verification, *, stage: Mapping[str, Any],
          scenario: Path | None = None, now: float | None = None) -> dict[str, Any]:
    """The manifest of a stage run (a plain dict, JSON-ready); its ``release`` and ``images``
    are the release's own record (``Release.to_dict``)."""
    images = release.to_dict()["images"]
    return {
        "schema": SCHEMA,
        "release": release.id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "xedgesim_version": xedgesim.__version__,
        "image_names": sorted({image.name for image in release.images}),
        "images": images,
        "scenario": scenario_entry(scenario) if scenario is not None else None,
        "verification": verification.as_dict(),
        "stage": dict(stage),
    }


def scenario_entry(path: Path) -> dict[str, str]:
    """The scenario's path and the sha256 of its bytes."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise UsageError(f"scenario {path}: {error.strerror or error}") from None
    return {"path": str(path), "sha256": digest}


def write_json(path: Path, document: Mapping[str, Any]) -> Path:
    """Write JSON atomically (a reader never sees half a manifest), making its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_json(path, document)


def record(manifest: Mapping[str, Any], run_dir: Path, store: Path) -> tuple[Path, Path]:
    """Write the manifest into the run directory and into the store; return both paths."""
    if not manifest["verification"]["passed"]:
        raise ValueError("only a passing stage run records a release manifest")
    here = write_json(run_dir / FILE_NAME, manifest)
    stored = write_json(store / f"{manifest['release']}.json", manifest)
    return here, stored


def load_store(store: Path) -> list[dict[str, Any]]:
    """Every readable manifest of the store, newest first; unreadable files are skipped."""
    found = []
    for path in sorted(store.glob("*.json")) if store.is_dir() else ():
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("schema") == SCHEMA:
            found.append(document)
    return sorted(found, key=lambda m: str(m.get("created", "")), reverse=True)


def find(release_id: str, store: Path) -> dict[str, Any]:
    """The stored manifest of ``release_id``."""
    for manifest in load_store(store):
        if manifest.get("release") == release_id:
            return manifest
    raise UsageError(f"no release {release_id} in {store} (stage it first: xedge stage)")


def release_of(manifest: Mapping[str, Any]) -> Release:
    """The Release a manifest describes."""
    return Release.from_dict({"id": manifest.get("release"), "images": manifest["images"]})


@dataclass(frozen=True)
class Vouch:
    """Which passing manifests vouch for each architecture of a release, and what nothing
    vouches for (``missing``: one line per image)."""

    by_arch: dict[str, str]  # arch -> release id of a passing manifest
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def vouch(release: Release, manifests: Sequence[Mapping[str, Any]]) -> Vouch:
    """For each arch of ``release``, the newest passing manifest with exactly its images."""
    wanted = release.ids()
    by_arch: dict[str, str] = {}
    missing: list[str] = []
    for arch, ids in sorted(wanted.items()):
        for manifest in manifests:
            if not (manifest.get("verification") or {}).get("passed"):
                continue
            staged = {name: entry.get("id") for name, entry in
                      (manifest.get("images") or {}).get(arch, {}).items()}
            if staged == ids:
                by_arch[arch] = str(manifest.get("release"))
                break
        else:
            seen = {entry.get("id") for manifest in manifests
                    if (manifest.get("verification") or {}).get("passed")
                    for entry in (manifest.get("images") or {}).get(arch, {}).values()}
            missing += [
                f"{arch} {name} {image_id}: "
                + ("staged, but never together with these other images" if image_id in seen
                   else "never passed staging")
                for name, image_id in sorted(ids.items())
            ]
    return Vouch(by_arch, tuple(missing))


def require_vouched(release: Release, store: Path, force: bool = False) -> Vouch:
    """The vouch for ``release``, or ReleaseRefused naming what was never staged. With
    ``force`` the vouch is returned incomplete, and the caller says so loudly."""
    result = vouch(release, load_store(store))
    if result.complete or force:
        return result
    raise ReleaseRefused(
        "refusing to deploy images that no passing `xedge stage` vouches for "
        f"(manifest store: {store}):\n"
        + "\n".join(f"  {line}" for line in result.missing)
        + "\nstage them first (xedge stage), or override with --force if you must"
    )
