"""``xedge deploy``: ship a staged release to a fleet, canary first, then verify it.

Before anything touches a device the release is checked against the manifest store: every
architecture's images must have passed ``xedge stage`` together. ``--force`` deploys anyway,
and says so in capitals, in the output and in ``deploy.json``.

This module splits the fleet into batches (``--serial``: the canary, then the rest) and runs
``playbooks/site.yml`` once per batch (``--limit``): Ansible's ``max_fail_percentage`` counts
per batch and a batch whose every host failed ends the playbook, so a failure budget *across*
batches (``--max-fail``) can only be kept here. Inside a batch every host runs to its end (a
failed host is rolled back by its rescue; its batch mates are not cut off mid-converge). When
more hosts failed than the budget allows, the rollout stops; with ``--rollback-on-abort`` the
hosts this rollout updated go back to their previous release (``playbooks/rollback.yml``).

Each host's outcome is data: site.yml publishes ``{host: {outcome: CODE, ...}}`` with
``set_stats`` and ansible-runner hands it over in the stats event; hosts that published
nothing are judged from the recap (unreachable, failed, not reached). ``OUTCOMES`` is the one
table of what each code means. After a rollout without failures the verification suite runs
against the whole inventory.
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.deploy import certificates, manifest, paths, release, scenario_config, verification
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.fleet_view import open_fleet
from xedgesim.deploy.progress import PlaybookProgress
from xedgesim.deploy.runner import PlaybookResult, PlaybookRun, run_playbook

DEFAULT_SERIAL: list[int | str] = [1, "50%"]
# the most hosts a deploy runs against: bounds the batches and the failure budget
MAX_HOSTS = 100_000


@dataclass(frozen=True)
class Outcome:
    """What a code in a host's outcome means: the text shown and whether it counts against
    the failure budget."""

    text: str
    failed: bool


# the one table of host outcomes: codes published by site.yml (set_stats), then the codes
# this module gives from the recap, the abort rollback and check mode
OUTCOMES: dict[str, Outcome] = {
    "updated": Outcome("updated", False),
    "unchanged": Outcome("unchanged (already on the release)", False),
    "rolled_back": Outcome("failed; rolled back", True),
    "rollback_failed": Outcome("failed; THE ROLLBACK FAILED TOO", True),
    "failed_no_earlier_release": Outcome("failed; no earlier release to roll back to", True),
    "failed_unchanged": Outcome("failed; its release was not changed", True),
    "failed": Outcome("failed", True),
    "unreachable": Outcome("unreachable", True),
    "not_reached": Outcome("not reached (the rollout stopped before its batch)", False),
    "rolled_back_on_abort": Outcome("updated, then rolled back (the rollout was stopped)",
                                    False),
    "abort_rollback_failed": Outcome("updated; the rollback after the stop FAILED", True),
    "would_change": Outcome("would change", False),
    "up_to_date": Outcome("already up to date", False),
}


@dataclass(frozen=True)
class FailureBudget:
    """``--max-fail``: how many hosts may fail before the rollout stops, as a count (``3``)
    or a share of the fleet (``10%``, rounded down, as Ansible's max_fail_percentage)."""

    count: int = 0
    percent: int | None = None

    def allowed(self, hosts: int) -> int:
        return self.count if self.percent is None else hosts * self.percent // 100

    def describe(self, hosts: int) -> str:
        share = f" ({self.percent}% of {hosts})" if self.percent is not None else ""
        return f"{self.allowed(hosts)} failed host(s){share}"


def parse_max_fail(text: str) -> FailureBudget:
    """``3`` -> 3 hosts; ``10%`` -> a tenth of the fleet; a clear error naming the option."""
    value = text.strip()
    number = value[:-1] if value.endswith("%") else value
    if not number.isdigit() or len(number) > 6:
        raise UsageError(f"--max-fail {text!r}: a count of hosts (2) or a share (10%)")
    if value.endswith("%"):
        if int(number) > 100:
            raise UsageError(f"--max-fail {text!r}: a share is at most 100%")
        return FailureBudget(percent=int(number))
    return FailureBudget(count=min(int(number), MAX_HOSTS))


def batches(hosts: Sequence[str], serial: Sequence[int | str]) -> list[list[str]]:
    """The hosts in Ansible's ``serial`` batches: each entry a count or a share of all hosts
    (rounded down, at least 1); the last entry repeats until every host has its batch."""
    sizes = [max(1, len(hosts) * int(str(entry)[:-1]) // 100)
             if isinstance(entry, str) else int(entry) for entry in serial] or [len(hosts)]
    result, start, index = [], 0, 0
    while start < len(hosts):
        size = sizes[min(index, len(sizes) - 1)]
        result.append(list(hosts[start:start + size]))
        start, index = start + size, index + 1
    return result


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
    max_fail: FailureBudget = field(default_factory=FailureBudget)
    # When the budget is spent: put the hosts this rollout updated back on their release.
    rollback_on_abort: bool = False
    # The scenario the services' settings are rendered from (scenario_config), its --place
    # options, and whether its release must have passed parity for it.
    scenario: Path | None = None
    place: tuple[str, ...] = ()
    require_parity: bool = False


@dataclass
class DeployOutcome:
    run_dir: Path
    release: release.Release
    vouched_by: dict[str, str]
    forced: bool
    playbook: PlaybookResult | None = None  # the batches' runs as one result
    outcomes: dict[str, str] = field(default_factory=dict)  # host -> a code of OUTCOMES
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # what site.yml published
    budget: int = 0  # hosts allowed to fail
    budget_spent: bool = False
    abort_rollback: PlaybookResult | None = None
    verify: verification.VerifyResult | None = None
    insecure_plaintext: list[str] = field(default_factory=list)  # hosts without TLS, on purpose
    ansible_command: str | None = None  # --print-ansible-command: what would run

    @property
    def failed_hosts(self) -> list[str]:
        return [host for host, code in self.outcomes.items() if OUTCOMES[code].failed]

    @property
    def passed(self) -> bool:
        rolled_out = (self.playbook is not None and self.playbook.passed
                      and not self.failed_hosts)
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
    fleet_plan = scenario_config.for_deploy(options, fleet, chosen)
    run_dir = paths.run_dir(options.out, "check" if options.check else "deploy")
    fleet = scenario_config.deploy_fleet(fleet, fleet_plan, run_dir, say)
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
    extravars: dict[str, Any] = {"xedgesim_release": chosen.to_dict(archives),
                                 "xedgesim_serial": options.serial}
    if plain:
        extravars["mqtt_broker_insecure_plaintext"] = True
    if options.print_ansible_command:
        outcome.ansible_command = ansible_command(
            project, fleet.sources, run_dir, extravars, secrets,
            check=options.check)
        write_record(outcome, options)
        return outcome
    outcome.budget = options.max_fail.allowed(len(fleet.hosts))
    say(f"failure budget: {options.max_fail.describe(len(fleet.hosts))}"
        + ("; the hosts updated are rolled back if it is spent" if options.rollback_on_abort
           else ""))

    def run(playbook: str, name: str, hosts: list[str], variables: dict[str, Any]) -> Any:
        display = PlaybookProgress(name, live=options.live)
        try:
            return run_playbook(PlaybookRun(
                playbook=paths.playbook(playbook, project),
                inventories=fleet.sources, run_dir=run_dir, name=name,
                extravars=variables, secret_vars=(secrets,) if secrets else (),
                check=options.check, limit=",".join(hosts), project_dir=project),
                progress=display)
        finally:
            display.close()

    try:
        rollout(outcome, [h.name for h in fleet.hosts], options, extravars, run, say)
    finally:
        write_record(outcome, options)
    if outcome.failed_hosts and options.verify and not options.check:
        say("[verify] skipped: hosts failed")
    if outcome.passed and options.verify and not options.check:
        release_file = verification.write_release_file(run_dir / "verify" / "release.json",
                                                       chosen.to_dict({}))
        say("[verify] start")
        outcome.verify = verification.run_suite(
            fleet.with_release(release_file), run_dir / "verify",
            restart_broker=options.restart_broker, say=say)
        say(f"[verify] {'passed' if outcome.verify.passed else 'FAILED'}: "
            f"{outcome.verify.summary()}")
    write_record(outcome, options)
    archives_dir = run_dir / "images"
    for path in (*archives.values(), *archives_dir.glob("*-thin-*.tar")):  # images/thin.py
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


RunPlaybook = Callable[[str, str, list[str], dict[str, Any]], PlaybookResult]


def rollout(outcome: DeployOutcome, hosts: list[str], options: DeployOptions,
            extravars: dict[str, Any], run: RunPlaybook, say: Callable[[str], None]) -> None:
    """Run site.yml batch by batch until every host had its turn; the rollout stops early
    when more hosts failed than the budget allows or a run ended before any host ran, and
    then, if asked, the hosts it updated are rolled back.

    ``run(playbook, name, hosts, extravars)`` runs one playbook limited to ``hosts``."""
    results: list[PlaybookResult] = []
    plan = batches(hosts, options.serial)
    for number, batch in enumerate(plan, 1):
        name = ("check" if options.check else "deploy") + (f"-{number}" if len(plan) > 1 else "")
        say(f"batch {number}/{len(plan)}: {', '.join(batch)}")
        result = run("site", name, batch, {**extravars, "xedgesim_serial": [len(batch)],
                                           "xedgesim_max_fail_percentage": 100})
        results.append(result)
        outcome.playbook = merge_results(results)
        outcome.outcomes, outcome.details = host_outcomes(outcome.playbook, hosts,
                                                          options.check)
        failed = outcome.failed_hosts
        if not result.hosts:  # ansible-playbook stopped before any host ran (bad inventory…)
            say(f"{name}: the playbook stopped before any host ran; the rollout stops")
            break
        if len(failed) > outcome.budget:
            outcome.budget_spent = True
            say(f"failure budget spent: {len(failed)} host(s) failed ({', '.join(failed)}), "
                f"{outcome.budget} allowed; the rollout stops")
            break
    else:
        return
    updated = [host for host, code in outcome.outcomes.items() if code == "updated"]
    if options.rollback_on_abort and updated and not options.check:
        say(f"rolling back the hosts this rollout updated: {', '.join(updated)}")
        back = run("rollback", "rollback-on-abort", updated, extravars)
        outcome.abort_rollback = back
        for host in updated:
            stats = back.hosts.get(host)
            outcome.outcomes[host] = ("rolled_back_on_abort" if stats and stats.succeeded
                                      else "abort_rollback_failed")


def merge_results(results: Sequence[PlaybookResult]) -> PlaybookResult:
    """The batches' runs as one result: every host's stats, failures and changes; failed if
    any batch failed; published outcomes merged (each host is in one batch)."""
    last = results[-1]
    failed = next((r for r in results if r.status != "successful"), None)
    published: dict[str, Any] = {}
    for result in results:
        for key, value in result.published.items():
            if isinstance(value, dict) and isinstance(published.get(key), dict):
                published[key] = {**published[key], **value}
            else:
                published[key] = value
    return dataclasses.replace(
        last,
        status=failed.status if failed else last.status,
        rc=max(result.rc for result in results) if failed is None
        else failed.rc,
        hosts={host: stats for result in results for host, stats in result.hosts.items()},
        failures=tuple(f for result in results for f in result.failures),
        changes=tuple(c for result in results for c in result.changes),
        artifact_dir=last.artifact_dir if len(results) == 1 else last.artifact_dir.parent.parent,
        seconds=sum(result.seconds for result in results),
        copied_bytes=sum(result.copied_bytes for result in results),
        withheld_env=tuple(sorted({n for result in results for n in result.withheld_env})),
        output_tail=(failed or last).output_tail,
        published=published,
    )


def host_outcomes(result: PlaybookResult, hosts: list[str],
                  check: bool) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Each host's code of ``OUTCOMES`` and what site.yml published about it: the published
    code, unless the recap says otherwise (unreachable; failed after it published success;
    never reached); a host that published nothing is judged from the recap alone."""
    published = result.published.get("xedgesim_outcomes")
    published = published if isinstance(published, dict) else {}
    outcomes: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    for host in hosts:
        stats = result.hosts.get(host)
        entry = published.get(host)
        entry = entry if isinstance(entry, dict) else {}
        code = entry.get("outcome")
        if entry:
            details[host] = {k: v for k, v in entry.items() if v is not None}
        if stats is None:
            outcomes[host] = "not_reached"
        elif stats.unreachable:
            outcomes[host] = "unreachable"
        elif code in OUTCOMES and OUTCOMES[str(code)].failed:
            outcomes[host] = str(code)
        elif stats.failed or code not in OUTCOMES:
            outcomes[host] = "failed"
        elif check:
            outcomes[host] = "would_change" if stats.changed else "up_to_date"
        else:
            outcomes[host] = str(code)
    return outcomes, details


def outcome_table(outcome: DeployOutcome) -> str:
    result = outcome.playbook
    if result is None:
        return ""
    rows = [("host", "outcome", "ok", "changed", "failed", "unreachable")]
    for host, code in outcome.outcomes.items():
        stats = result.hosts.get(host)
        text = OUTCOMES[code].text
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
        "outcome_details": outcome.details,
        "failure_budget": {"allowed": outcome.budget, "spent": outcome.budget_spent,
                           "failed": outcome.failed_hosts,
                           "rollback_on_abort": options.rollback_on_abort},
        "abort_rollback": (outcome.abort_rollback.as_dict() if outcome.abort_rollback
                           else None),
        "verify": None if outcome.verify is None else {
            "passed": outcome.verify.passed, "summary": outcome.verify.summary(),
            "junit": str(outcome.verify.junit), "failed": list(outcome.verify.failed)},
    }
    manifest.write_json(outcome.run_dir / "deploy.json", document)


def failure_message(outcome: DeployOutcome) -> str:
    """The clear message a failed deploy ends with: per failed host, the task that failed and
    what became of the host; the budget; the hosts left on their previous release."""
    result = outcome.playbook
    if result is None:
        return "deploy did not run"
    failed = outcome.failed_hosts
    if failed or not result.passed:
        lines = [f"deploy of {outcome.release.id} FAILED"]
        for host in failed:
            detail = outcome.details.get(host, {})
            text = OUTCOMES[outcome.outcomes[host]].text
            if detail.get("rolled_back_to"):
                text += f" to release {detail['rolled_back_to']}"
            if detail.get("rollback_failure"):
                text += f" ({detail['rollback_failure']})"
            lines.append(f"  {host}: {text}")
            lines += [f"    {f.task} · {f.message}" for f in result.failures if f.host == host]
        if outcome.budget_spent:
            lines.append(f"  failure budget spent: {len(failed)} failed, "
                         f"{outcome.budget} allowed; the rollout stopped")
        elif failed:
            lines.append(f"  {len(failed)} failed within the failure budget "
                         f"({outcome.budget} allowed); the other hosts were deployed")
        if result.output_tail:  # a run that ended before its recap
            lines += [f"  {line}" for line in result.output_tail.splitlines()]
        untouched = [h for h, code in outcome.outcomes.items() if code == "not_reached"]
        if untouched:
            lines.append(f"  left on their previous release: {', '.join(untouched)}")
        back = [h for h, code in outcome.outcomes.items() if code == "rolled_back_on_abort"]
        if back:
            lines.append(f"  updated, then rolled back after the stop: {', '.join(back)}")
        lines.append(f"  artifacts: {result.artifact_dir}")
        return "\n".join(lines)
    if outcome.verify is not None and not outcome.verify.passed:
        return ("deploy rolled out, but verification FAILED:\n"
                + "\n".join(f"  {line}" for line in outcome.verify.failed)
                + f"\n  JUnit: {outcome.verify.junit}")
    return ""
