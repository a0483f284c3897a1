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

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import xedgesim
from xedgesim import atomic
from xedgesim.compare.verdicts import BREACH, PASS, SKIPPED
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


@dataclass(frozen=True)
class ParityRecord:
    """Proof that a release, staged with a scenario, behaved on the fleet as simulated: the
    scenario's hash, the fleet run, the ``xedge compare`` report and its verdict, and the
    tolerance file's hash. A manifest keeps a list of them (``parity``), one per comparison;
    ``xedge deploy --require-parity`` looks for a passing one for its scenario's bytes.

    The record travels with the release (a manifest copied with its run directory, or to
    another machine), so it says what it proves by itself: the report's sha256 (a copy of the
    report can be checked against it) and its verdict counts, and paths into the run directory
    relative to it (``portable_path``). Records written before those fields have None there."""

    scenario_sha256: str
    fleet_run: str  # the fleet run's directory
    compare_report: str  # the JSON report of `xedge compare`
    verdict: str  # "pass" or "breach", as the report says
    scenario_path: str = ""
    tolerance_path: str | None = None
    tolerance_sha256: str | None = None  # None: the default tolerances
    simulation_run: str | None = None  # the other side of the comparison
    recorded: str = ""
    compare_report_sha256: str | None = None  # of the report's bytes
    counts: Mapping[str, int] | None = None  # the report's metrics per verdict (VERDICTS)

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": {"path": self.scenario_path, "sha256": self.scenario_sha256},
            "fleet_run": self.fleet_run, "simulation_run": self.simulation_run,
            "compare_report": self.compare_report,
            "compare_report_sha256": self.compare_report_sha256, "verdict": self.verdict,
            "counts": None if self.counts is None else dict(self.counts),
            "tolerance": (None if self.tolerance_sha256 is None else
                          {"path": self.tolerance_path, "sha256": self.tolerance_sha256}),
            "recorded": self.recorded,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ParityRecord:
        """The record ``as_dict`` wrote (or an older one, without the report's hash and
        counts); a malformed one is a UsageError."""
        try:
            scenario = document["scenario"]
            tolerance = document.get("tolerance") or {}
            verdict = str(document["verdict"])
            if verdict not in (PASS, BREACH):
                raise ValueError(f"verdict {verdict!r}")
            report_sha256 = document.get("compare_report_sha256")
            counts = document.get("counts")
            return cls(scenario_sha256=str(scenario["sha256"]),
                       scenario_path=str(scenario.get("path") or ""),
                       fleet_run=str(document["fleet_run"]),
                       compare_report=str(document["compare_report"]), verdict=verdict,
                       tolerance_path=tolerance.get("path"),
                       tolerance_sha256=tolerance.get("sha256"),
                       simulation_run=document.get("simulation_run"),
                       recorded=str(document.get("recorded") or ""),
                       compare_report_sha256=None if report_sha256 is None
                       else str(report_sha256),
                       counts=None if counts is None else verdict_counts(counts))
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise UsageError(f"not a parity record: {type(error).__name__} {error}") from None

    def anchored(self, run_dir: Path) -> ParityRecord:
        """This record with its paths into the run (fleet run, simulation, report) joined to
        ``run_dir``: for a manifest of another run, where ``fleet-run`` would name that run's."""
        return replace(self, fleet_run=str(run_dir / self.fleet_run),
                       compare_report=str(run_dir / self.compare_report),
                       simulation_run=None if self.simulation_run is None
                       else str(run_dir / self.simulation_run))


VERDICTS = (PASS, BREACH, SKIPPED)


def verdict_counts(counts: Any) -> dict[str, int]:
    """A compare report's ``counts``: how many metrics passed, breached and were skipped; a
    ValueError for anything else."""
    if not isinstance(counts, Mapping) or not all(
            type(counts.get(name)) is int and counts[name] >= 0 for name in VERDICTS):
        raise ValueError(f"counts {counts!r}: wanted a count for each of {', '.join(VERDICTS)}")
    return {name: counts[name] for name in VERDICTS}


def portable_path(path: Path, run_dir: Path | None) -> str:
    """``path`` as a record keeps it: relative to the run directory when it lies inside it, so
    a manifest copied with its run, or to another machine, still points at its evidence; else
    as given. Never made absolute for the record: a path given relative keeps no trace of the
    machine's directories (its user's home)."""
    if run_dir is not None:
        with contextlib.suppress(ValueError):
            return path.resolve().relative_to(run_dir.resolve()).as_posix()
    return str(path)


def parity_record(scenario: Path, fleet_run: Path, compare_report: Path,
                  tolerance: Path | None = None, simulation_run: Path | None = None,
                  now: float | None = None, run_dir: Path | None = None) -> ParityRecord:
    """The parity record of one comparison: hashes the scenario, the tolerance file and the
    compare report, and takes the verdict and its counts from the report's JSON (``verdict``:
    pass or breach; ``counts``). ``run_dir`` is the run directory whose manifest gets the
    record: paths inside it are recorded relative to it (``portable_path``)."""
    try:
        data = compare_report.read_bytes()
        report = json.loads(data)
        verdict = report["verdict"]
        counts = verdict_counts(report["counts"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"compare report {compare_report}: cannot read its verdict and counts "
                         f"({type(error).__name__})") from None
    tolerance_sha256 = scenario_entry(tolerance)["sha256"] if tolerance is not None else None
    return ParityRecord(
        scenario_sha256=scenario_entry(scenario)["sha256"],
        scenario_path=portable_path(scenario, run_dir),
        fleet_run=portable_path(fleet_run, run_dir),
        compare_report=portable_path(compare_report, run_dir),
        compare_report_sha256=hashlib.sha256(data).hexdigest(),
        verdict=str(verdict), counts=counts,
        tolerance_path=portable_path(tolerance, run_dir) if tolerance is not None else None,
        tolerance_sha256=tolerance_sha256,
        simulation_run=(portable_path(simulation_run, run_dir) if simulation_run is not None
                        else None),
        recorded=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))


def attach_parity(document: Mapping[str, Any], record: ParityRecord) -> dict[str, Any]:
    """``document`` (a manifest) with ``record`` added to its ``parity`` list, replacing an
    earlier record of the same scenario and fleet run. The manifest's release is read back
    through ``Release.from_dict`` first, so proof is never attached to a record whose id no
    longer matches its images."""
    release_of(document)
    kept = [entry for entry in document.get("parity") or ()
            if not (isinstance(entry, Mapping)
                    and (entry.get("scenario") or {}).get("sha256") == record.scenario_sha256
                    and entry.get("fleet_run") == record.fleet_run)]
    return {**document, "parity": [*kept, record.as_dict()]}


def record_parity(release_id: str, record: ParityRecord, store: Path,
                  run_dir: Path | None = None) -> Path:
    """Attach ``record`` to the stored manifest of ``release_id`` (and to the run
    directory's copy, when given); return the stored manifest's path. The record's paths are
    relative to ``run_dir`` (``parity_record``); when the stored manifest is another run's
    (the release staged again since), they are joined to ``run_dir`` there."""
    document = find(release_id, store)
    in_store = record
    if run_dir is not None and not same_run(document, run_dir):
        in_store = record.anchored(run_dir)
    stored = write_json(store / f"{release_id}.json", attach_parity(document, in_store))
    if run_dir is not None and (run_dir / FILE_NAME).is_file():
        write_json(run_dir / FILE_NAME, attach_parity(
            json.loads((run_dir / FILE_NAME).read_text()), record))
    return stored


def same_run(document: Mapping[str, Any], run_dir: Path) -> bool:
    """Is ``document`` the manifest of the stage run in ``run_dir`` (its ``stage.run``)?"""
    run = (document.get("stage") or {}).get("run")
    return isinstance(run, str) and Path(run).resolve() == run_dir.resolve()


@dataclass(frozen=True)
class ParityFound:
    """What the store holds about a release's parity for one scenario."""

    passing: dict[str, Any] | None  # a passing record, if any
    seen: tuple[str, ...]  # every record of the release, one line each


def parity_for(release: Release, scenario_sha256: str, store: Path) -> ParityFound:
    """The newest passing parity record for the scenario's bytes among the manifests of
    ``release`` (matched by release id, read back through ``Release.from_dict``)."""
    seen: list[str] = []
    for document in load_store(store):
        if document.get("release") != release.id:
            continue
        try:
            release_of(document)
        except UsageError:
            continue
        for entry in reversed(document.get("parity") or []):
            try:
                record = ParityRecord.from_dict(entry)
            except UsageError:
                continue
            if record.scenario_sha256 == scenario_sha256 and record.passed:
                return ParityFound(record.as_dict(), tuple(seen))
            seen.append(f"{record.verdict} for {record.scenario_path or 'a scenario'} "
                        f"(sha256 {record.scenario_sha256[:12]})")
    return ParityFound(None, tuple(seen))


def build(release: Release, verification: Verification, *, stage: Mapping[str, Any],
          scenario: Path | None = None, now: float | None = None,
          parity: Sequence[ParityRecord] = ()) -> dict[str, Any]:
    """The manifest of a stage run (a plain dict, JSON-ready); its ``release`` and ``images``
    are the release's own record (``Release.to_dict``); ``parity`` the comparisons of the
    run's fleet run with the simulation (``ParityRecord``)."""
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
        "parity": [record.as_dict() for record in parity],
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
