"""``xedge deploy``: ship a staged release to a fleet, canary first, then verify it.

Before anything touches a device the release is checked against the manifest store: every
architecture's images must have passed ``xedge stage`` together. ``--force`` deploys anyway,
and says so in capitals, in the output and in ``deploy.json``.

``playbooks/site.yml`` does the rollout (canary, batches of ``xedgesim_serial``, a health gate
per batch, rollback of a failed host, stop). This module reads the outcome from the runner's
stats and events — which hosts were deployed, rolled back or not reached — and, after a
successful rollout, runs the verification suite against the whole inventory.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.deploy import certificates, manifest, paths, release, verification
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.fleet_view import open_fleet
from xedgesim.deploy.progress import PlaybookProgress
from xedgesim.deploy.runner import PlaybookResult, PlaybookRun, run_playbook

DEFAULT_SERIAL: list[int | str] = [1, "50%"]


@dataclass
class DeployOptions:
    inventory: Path
    check: bool = False
    force: bool = False
    serial: list[int | str] = field(default_factory=lambda: list(DEFAULT_SERIAL))
    release_id: str | None = None
    images: tuple[str, ...] = ()  # NAME=REF overrides of the local images
    secrets: Path | None = None
    out: Path | None = None
    store: Path = field(default_factory=paths.releases_dir)
    verify: bool = True
    restart_broker: bool = True
    live: bool | None = None
    # Let brokers without a certificate take logins from the network in plain text.
    insecure_plaintext: bool = False
    # Write <run>/release.json and print the ansible-playbook command instead of running it.
    print_ansible_command: bool = False


@dataclass
class DeployOutcome:
    run_dir: Path
    release: release.Release
    vouched_by: dict[str, str]
    forced: bool
    playbook: PlaybookResult | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # host -> deployed | rolled back...
    verify: verification.VerifyResult | None = None
    insecure_plaintext: list[str] = field(default_factory=list)  # hosts without TLS, on purpose
    ansible_command: str | None = None  # --print-ansible-command: what would run

    @property
    def passed(self) -> bool:
        rolled_out = self.playbook is not None and self.playbook.passed
        return rolled_out and (self.verify is None or self.verify.passed)


def parse_serial(text: str) -> list[int | str]:
    """``1,50%`` -> [1, "50%"]: Ansible's serial list (counts or percentages)."""
    batches: list[int | str] = []
    for part in (p.strip() for p in text.split(",")):
        if part.isdigit() and int(part) > 0:
            batches.append(int(part))
        elif part.endswith("%") and part[:-1].isdigit() and 0 < int(part[:-1]) <= 100:
            batches.append(part)
        else:
            raise UsageError(f"--serial {text!r}: each batch is a count (1) or a share (50%)")
    if not batches:
        raise UsageError("--serial needs at least one batch")
    return batches


def deploy(options: DeployOptions, say: Callable[[str], None] = print) -> DeployOutcome:
    """Check the release, roll it out, report per host, verify; see the module docstring."""
    from xedgesim.deploy.fleet import connect

    project = paths.project_root()
    fleet = open_fleet(options.inventory, secrets=options.secrets, project=project)
    plain = certificates.require_tls(fleet.hosts, options.insecure_plaintext, options.inventory)
    client = connect()
    if options.release_id:
        chosen = manifest.release_of(manifest.find(options.release_id, options.store))
        if missing := sorted(set(fleet.arches) - set(chosen.arches)):
            raise UsageError(f"release {options.release_id} has no images for "
                             f"{', '.join(missing)}")
        chosen = release.Release(tuple(i for i in chosen.images if i.arch in fleet.arches))
    else:
        chosen = release.resolve_local(client, fleet.arches, options.images)
    vouch = manifest.require_vouched(chosen, options.store, force=options.force)
    run_dir = paths.run_dir(options.out, "check" if options.check else "deploy")
    outcome = DeployOutcome(run_dir, chosen, vouch.by_arch, options.force and not vouch.complete,
                            insecure_plaintext=plain)
    say(f"deploy {chosen.id} to {options.inventory} ({len(fleet.hosts)} host(s): "
        f"{', '.join(h.name for h in fleet.hosts)}) · run {run_dir}")
    say(chosen.describe())
    if plain:
        say("!" * 78)
        say(certificates.INSECURE_BANNER.format(hosts=", ".join(plain)))
        say("!" * 78)
    if outcome.forced:
        say("!" * 78)
        say("FORCED: deploying images that no passing `xedge stage` vouches for:")
        for line in vouch.missing:
            say(f"  {line}")
        say("!" * 78)
    else:
        say("vouched for by " + ", ".join(f"{arch}: release {rid}"
                                          for arch, rid in sorted(vouch.by_arch.items())))
    archives = release.save_archives(client, chosen, run_dir / "images",
                                     progress=lambda text: say(f"  {text}"))
    secrets = fleet.secrets
    extravars: dict[str, Any] = {"xedgesim_release": chosen.extra_vars(archives),
                                 "xedgesim_serial": options.serial}
    if plain:
        extravars["mqtt_broker_insecure_plaintext"] = True
    if options.print_ansible_command:
        outcome.ansible_command = ansible_command(
            project, fleet.sources, run_dir, extravars, secrets,
            check=options.check)
        write_record(outcome, options)
        return outcome
    run = PlaybookRun(
        playbook=paths.playbook("site", project),
        inventories=fleet.sources,
        run_dir=run_dir,
        name="check" if options.check else "deploy",
        extravars=extravars,
        secret_vars=(secrets,) if secrets else (),
        check=options.check,
        project_dir=project,
    )
    display = PlaybookProgress(run.name, live=options.live)
    try:
        outcome.playbook = run_playbook(run, progress=display)
    finally:
        display.close()
        write_record(outcome, options)
    outcome.outcomes = host_outcomes(outcome.playbook, [h.name for h in fleet.hosts],
                                     options.check)
    if outcome.playbook.passed and options.verify and not options.check:
        release_file = verification.write_release_file(run_dir / "verify" / "release.json",
                                                       chosen.extra_vars({}))
        say("[verify] start")
        outcome.verify = verification.run_suite(
            fleet.with_release(release_file), run_dir / "verify",
            restart_broker=options.restart_broker, say=say)
        say(f"[verify] {'passed' if outcome.verify.passed else 'FAILED'}: "
            f"{outcome.verify.summary()}")
    write_record(outcome, options)
    archives_dir = run_dir / "images"
    for path in archives.values():
        path.unlink(missing_ok=True)
    if archives_dir.is_dir() and not any(archives_dir.iterdir()):
        archives_dir.rmdir()
    return outcome


def ansible_command(project: Path, inventories: Sequence[Path], run_dir: Path,
                    extravars: dict[str, Any], secrets: Path | None, check: bool) -> str:
    """Write ``<run>/release.json`` (the extra vars: release with its archives, batches) and
    return the ansible-playbook command that does what ``xedge deploy`` would; the secrets
    stay where they are (a vars file named with -e @, or the inventory's vault)."""
    release_file = manifest.write_json(run_dir / "release.json", extravars)
    command = ["ansible-playbook"]
    for source in inventories:
        command += ["-i", str(Path(source).resolve())]
    command += [str(paths.playbook("site", project)), "-e", f"@{Path(release_file).resolve()}"]
    if secrets is not None:
        command += ["-e", f"@{secrets.resolve()}"]
    if check:
        command += ["--check", "--diff"]
    config = paths.ansible_config(project)
    prefix = f"ANSIBLE_CONFIG={shlex.quote(str(config))} " if config else ""
    return prefix + shlex.join(command)


def host_outcomes(result: PlaybookResult, hosts: list[str], check: bool) -> dict[str, str]:
    """What happened to each host, from the recap: deployed (changed or already there),
    rolled back (its rescue ran), failed, unreachable, or not reached (a later batch)."""
    outcomes = {}
    for host in hosts:
        stats = result.hosts.get(host)
        if stats is None:
            outcomes[host] = "not reached (the rollout stopped before its batch)"
        elif stats.unreachable:
            outcomes[host] = "unreachable"
        elif stats.rescued and stats.failed:
            rolled = any(f.host == host and "rolled back" in f.message for f in result.failures)
            outcomes[host] = "failed; rolled back" if rolled else "failed; not rolled back"
        elif stats.failed:
            outcomes[host] = "failed"
        elif check:
            outcomes[host] = f"would change {stats.changed} thing(s)" if stats.changed \
                else "already up to date"
        else:
            outcomes[host] = "deployed" if stats.changed else "deployed (nothing to change)"
    return outcomes


def outcome_table(outcome: DeployOutcome) -> str:
    result = outcome.playbook
    if result is None:
        return ""
    rows = [("host", "outcome", "ok", "changed", "failed", "unreachable")]
    for host, text in outcome.outcomes.items():
        stats = result.hosts.get(host)
        numbers = ((str(stats.ok), str(stats.changed), str(stats.failed), str(stats.unreachable))
                   if stats else ("-", "-", "-", "-"))
        rows.append((host, text, *numbers))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def check_report(result: PlaybookResult) -> str:
    """For ``--check``: per host, the tasks that would change something."""
    by_host: dict[str, list[str]] = {}
    for host, task in result.changes:
        by_host.setdefault(host, []).append(task)
    if not by_host:
        return "nothing would change"
    lines = []
    for host in sorted(by_host):
        lines.append(f"{host} would change:")
        lines += [f"  {task}" for task in dict.fromkeys(by_host[host])]
    return "\n".join(lines)


def write_record(outcome: DeployOutcome, options: DeployOptions) -> None:
    """``deploy.json``: what was deployed, forced or vouched for, per-host outcome."""
    document: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inventory": str(options.inventory),
        "release": outcome.release.id,
        "images": outcome.release.ids(),
        "vouched_by": outcome.vouched_by,
        "forced": outcome.forced,
        "check": options.check,
        "serial": options.serial,
        "insecure_plaintext": outcome.insecure_plaintext,
        "ansible_command": outcome.ansible_command,
        "playbook": outcome.playbook.as_dict() if outcome.playbook else None,
        "outcomes": outcome.outcomes,
        "verify": None if outcome.verify is None else {
            "passed": outcome.verify.passed, "summary": outcome.verify.summary(),
            "junit": str(outcome.verify.junit), "failed": list(outcome.verify.failed)},
    }
    manifest.write_json(outcome.run_dir / "deploy.json", document)


def failure_message(outcome: DeployOutcome) -> str:
    """The clear message a failed deploy ends with."""
    result = outcome.playbook
    if result is None:
        return "deploy did not run"
    if not result.passed:
        lines = [f"deploy of {outcome.release.id} FAILED"]
        stop = [f for f in result.failures if "rolled back" in f.message
                or "Later batches" in f.message]
        shown = stop or list(result.failures)
        lines += [f"  {failure.line()}" for failure in shown]
        if not result.hosts and result.output_tail:
            lines += [f"  {line}" for line in result.output_tail.splitlines()]
        untouched = [h for h, text in outcome.outcomes.items() if text.startswith("not reached")]
        if untouched:
            lines.append(f"  left on their previous release: {', '.join(untouched)}")
        lines.append(f"  artifacts: {result.artifact_dir}")
        return "\n".join(lines)
    if outcome.verify is not None and not outcome.verify.passed:
        return ("deploy rolled out, but verification FAILED:\n"
                + "\n".join(f"  {line}" for line in outcome.verify.failed)
                + f"\n  JUnit: {outcome.verify.junit}")
    return ""
