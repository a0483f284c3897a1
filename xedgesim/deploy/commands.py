"""``xedge stage``, ``xedge deploy``, ``xedge verify``: thin wrappers over stage.py, deploy.py
and verification.py. They parse options, call one function and print its summary; a
``DeployError`` is reported by the ``xedge`` group (xedgesim/cli.py) with its exit code
(1 failed, 2 bad input or refused, 130 interrupted).

Only click and this package's light modules are imported here; ansible-runner, the docker SDK
and testinfra load when a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from xedgesim.cli import positive_duration
from xedgesim.deploy import paths
from xedgesim.deploy.errors import EXIT_FAILED

ARCH_CHOICE = click.Choice(["amd64", "arm64"])
STEP_CHOICE = click.Choice(["create", "converge", "idempotence", "verify", "workload",
                            "parity", "destroy"])
PLACE_OPTION = click.option(
    "--place", "place", multiple=True, metavar="HOST=NODE[,NODE]",
    help="With --scenario: run these brokers and gateways of the scenario on HOST ('*': every "
         "host not named); replaces the scenario's placement: [default: every broker and "
         "gateway on every host].")
RELEASES_OPTION = click.option(
    "--releases", "store", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
    help="The manifest store [default: $XEDGESIM_RELEASES, else "
         "$XDG_STATE_HOME/xedgesim/releases, i.e. ~/.local/state/xedgesim/releases].")


@click.command("stage")
@click.option("--hosts", "hosts", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Simulated Pis in the local staging fleet.")
@click.option("--arch", type=ARCH_CHOICE, default="amd64", show_default=True,
              help="The fleet's architecture; arm64 images run under qemu on this machine.")
@click.option("--keep", is_flag=True, help="Leave the fleet running (steps can then run alone).")
@click.option("--inventory", type=click.Path(exists=True, path_type=Path),
              help="Stage onto this inventory's hosts instead of a local fleet.")
@click.option("--secrets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --inventory: a vars file (0600, may be vaulted) with "
                   "xedgesim_mqtt_users; default: the inventory's own.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Run directory [default: runs/stage-<timestamp>/].")
@click.option("--step", "steps", type=STEP_CHOICE, multiple=True,
              help="Run only this step (repeatable) against the kept fleet of --out.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The scenario the services' settings are rendered from (topics, QoS, "
                   "window, MQTT users and ACL); it is then run on the fleet and the run "
                   "compared with its simulation (parity); its hash goes in the manifest.")
@PLACE_OPTION
@click.option("--tolerance", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="FILE", help="With --scenario: the parity step's tolerances per metric "
                                   "(as xedge compare --tolerance) [default: the documented "
                                   "defaults].")
@click.option("--parity-seeds", type=click.IntRange(2, 20), default=3, show_default=True,
              metavar="N", help="With --scenario: seeds of the simulation the fleet run is "
                                "judged against (the scenario's seed and the next N-1).")
@click.option("--image", "images", multiple=True, metavar="NAME=REF",
              help="Stage another local image for a service, e.g. gateway=xedgesim/gateway:dev.")
@RELEASES_OPTION
@click.option("--progress/--no-progress", default=None,
              help="A live progress line [default: when stdout is a terminal].")
def stage(hosts: int, arch: str, keep: bool, inventory: Path | None, secrets: Path | None,
          out: Path | None, steps: tuple[str, ...], scenario: Path | None,
          place: tuple[str, ...], tolerance: Path | None, parity_seeds: int,
          images: tuple[str, ...], store: Path | None, progress: bool | None) -> None:
    """Rehearse a deployment: create a staging fleet, converge it with the production
    settings, converge again (nothing may change), verify with testinfra and MQTT, destroy.
    With --scenario, run the scenario on the fleet and compare it with its simulation
    (parity) before destroying.

    A passing run writes a release manifest (image digests, verification results, parity)
    that `xedge deploy` requires.

    \b
    Examples:
      xedge stage --hosts 2
      xedge stage --hosts 1 --scenario scenarios/fleet_parity.yaml
      xedge stage --hosts 1 --scenario scenarios/fleet_parity.yaml --tolerance parity.yaml
      xedge stage --hosts 3 --arch arm64 --keep --out runs/stage-arm
      xedge stage --out runs/stage-arm --step verify      # again, on the kept fleet
      xedge stage --out runs/stage-arm --step destroy
    """
    from xedgesim.deploy.stage import StageOptions
    from xedgesim.deploy.stage import stage as run_stage

    if place and scenario is None:
        raise click.UsageError("--place needs --scenario: it places the scenario's nodes")
    if tolerance is not None and scenario is None and "parity" not in steps:
        raise click.UsageError("--tolerance needs --scenario: it judges the scenario's "
                               "fleet run")
    options = StageOptions(hosts=hosts, arch=arch, keep=keep, inventory=inventory,
                           secrets=secrets, out=out, steps=steps, scenario=scenario,
                           place=place, images=images, store=store or paths.releases_dir(),
                           live=progress, tolerance=tolerance, parity_seeds=parity_seeds)
    outcome = run_stage(options, say=click.echo)
    if outcome.table:
        click.echo("")
        click.echo(outcome.table)
    click.echo("")
    if outcome.junit:
        click.echo(f"JUnit XML:  {outcome.junit}")
    if outcome.manifest:
        click.echo(f"manifest:   {outcome.manifest}")
        click.echo(f"recorded:   {outcome.stored}")
    if "destroy" not in outcome.steps and outcome.passed:
        inventory_path = Path(outcome.run_dir) / "inventory" / "hosts.yml"
        if inventory_path.is_file():
            click.echo(f"kept fleet: xedge deploy --inventory {inventory_path}")
            click.echo(f"            xedge stage --out {outcome.run_dir} --step destroy")
    if not outcome.passed:
        failed = [name for name, step in outcome.steps.items() if not step.passed]
        click.echo(f"stage FAILED at {', '.join(failed)}; everything is in {outcome.run_dir}",
                   err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"stage passed: {outcome.run_dir}")


@click.command("deploy")
@click.option("--inventory", required=True, type=click.Path(exists=True, path_type=Path),
              help="The fleet (a file or directory Ansible reads).")
@click.option("--check", is_flag=True, help="Show what would change; change nothing.")
@click.option("--force", is_flag=True,
              help="Deploy images no passing `xedge stage` vouches for (said loudly).")
@click.option("--serial", default="1,50%", show_default=True,
              help="Batches: the canary first, then counts or shares of the fleet.")
@click.option("--max-fail", default="0", show_default=True, metavar="N|N%",
              help="Failure budget across all batches: the rollout stops once more hosts "
                   "failed than this count or share of the fleet (0: at the first).")
@click.option("--rollback-on-abort", is_flag=True,
              help="When the rollout stops, roll back the hosts it already updated.")
@click.option("--release", "release_id", metavar="ID",
              help="Deploy this staged release (from the manifest store; list them with "
                   "`xedge releases`) instead of this machine's current images.")
@RELEASES_OPTION
@click.option("--image", "images", multiple=True, metavar="NAME=REF",
              help="Deploy another local image for a service, e.g. gateway=xedgesim/gateway:dev.")
@click.option("--secrets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A vars file (0600, may be vaulted) with xedgesim_mqtt_users; default: "
                   "the inventory's own (or the stage run's, for a kept staging fleet).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Run directory [default: runs/deploy-<timestamp>/].")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Verify the whole inventory after a successful rollout.")
@click.option("--restart-broker/--no-restart-broker", default=True, show_default=True,
              help="Let verification restart each broker (the persistence check).")
@click.option("--progress/--no-progress", default=None,
              help="A live progress line [default: when stdout is a terminal].")
@click.option("--insecure-plaintext", is_flag=True,
              help="Deploy brokers that have no TLS certificate in the inventory: MQTT "
                   "passwords then cross the network IN CLEAR (said loudly, recorded).")
@click.option("--print-ansible-command", is_flag=True,
              help="Write <run>/release.json and print the ansible-playbook command that "
                   "does this deploy; run nothing.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Render the services' settings (topics, QoS, window, MQTT users and ACL) "
                   "from this scenario instead of the inventory's.")
@PLACE_OPTION
@click.option("--require-parity", is_flag=True,
              help="Refuse a release whose manifest has no passing parity (fleet run "
                   "compared with the simulation) for --scenario's exact bytes.")
def deploy(inventory: Path, check: bool, force: bool, serial: str, release_id: str | None,
           store: Path | None, images: tuple[str, ...], secrets: Path | None,
           out: Path | None, verify: bool, restart_broker: bool, progress: bool | None,
           insecure_plaintext: bool, print_ansible_command: bool, max_fail: str,
           rollback_on_abort: bool, scenario: Path | None, place: tuple[str, ...],
           require_parity: bool) -> None:
    """Roll a staged release out to a fleet: canary first, then batches, each gated on
    health and an MQTT probe; a failed host is rolled back, and the rollout stops once
    more hosts failed than --max-fail allows.
    Then verify the whole inventory.

    \b
    Examples:
      xedge deploy --inventory inventories/pis --check
      xedge deploy --inventory inventories/pis
      xedge deploy --inventory runs/stage-…/inventory/hosts.yml --serial 1,1
      xedge deploy --inventory inventories/pis --max-fail 10% --rollback-on-abort
      xedge deploy --inventory inventories/pis --print-ansible-command
      xedge deploy --inventory inventories/pis --scenario scenarios/fleet_parity.yaml \
          --require-parity
    """
    if (require_parity or place) and scenario is None:
        raise click.UsageError(f"{'--require-parity' if require_parity else '--place'} needs "
                               "--scenario: the scenario whose settings and parity it is about")
    from xedgesim.deploy.deploy import (
        DeployOptions,
        check_report,
        failure_message,
        outcome_table,
        parse_max_fail,
        parse_serial,
    )
    from xedgesim.deploy.deploy import deploy as run_deploy

    options = DeployOptions(inventory=inventory, check=check, force=force,
                            serial=parse_serial(serial), release_id=release_id,
                            store=store or paths.releases_dir(),
                            images=images, secrets=secrets, out=out, verify=verify,
                            restart_broker=restart_broker, live=progress,
                            insecure_plaintext=insecure_plaintext,
                            print_ansible_command=print_ansible_command,
                            max_fail=parse_max_fail(max_fail),
                            rollback_on_abort=rollback_on_abort, scenario=scenario,
                            place=place, require_parity=require_parity)
    outcome = run_deploy(options, say=click.echo)
    if outcome.ansible_command is not None:
        click.echo(f"\nrelease.json: {outcome.run_dir / 'release.json'}\n")
        click.echo(outcome.ansible_command)
        return
    click.echo("")
    click.echo(outcome_table(outcome))
    if check and outcome.playbook is not None:
        click.echo("")
        click.echo(check_report(outcome.playbook))
    click.echo(f"\nrecord: {outcome.run_dir / 'deploy.json'}")
    if not outcome.passed:
        click.echo(failure_message(outcome), err=True)
        sys.exit(EXIT_FAILED)
    if outcome.playbook is not None and not check:
        click.echo(f"image archives shipped: {outcome.playbook.copied_bytes:,} bytes")
    click.echo(("check passed: " if check else "deployed ") + outcome.release.id)


@click.command("verify")
@click.option("--inventory", required=True, type=click.Path(exists=True, path_type=Path),
              help="The fleet to check (any inventory with the group 'edge').")
@click.option("--release", "release_id", metavar="ID",
              help="The release the fleet must run [default: this machine's images].")
@RELEASES_OPTION
@click.option("--image", "images", multiple=True, metavar="NAME=REF",
              help="Expect another local image for a service.")
@click.option("--secrets", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A vars file with xedgesim_mqtt_users (for the MQTT smoke test).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Run directory [default: runs/verify-<timestamp>/].")
@click.option("--restart-broker/--no-restart-broker", default=True, show_default=True,
              help="Restart each broker to prove a queued QoS 1 message survives.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Then drive this scenario's workload against the fleet and write a fleet "
                   "run (the schema of `xedge simulate`) for `xedge compare`.")
@click.option("--duration", "duration_ns", callback=positive_duration, metavar="DURATION",
              help="With --scenario: run it this long instead of its own duration (at most "
                   "1h), e.g. 30s.")
def verify(inventory: Path, release_id: str | None, store: Path | None, images: tuple[str, ...],
           secrets: Path | None, out: Path | None, restart_broker: bool,
           scenario: Path | None, duration_ns: int | None) -> None:
    """Check a fleet without deploying: the testinfra suite (release images, restart
    policy, health, broker port, secret files) and the MQTT smoke test; with --scenario,
    then run the scenario against the fleet (a fleet run, for `xedge compare`).

    \b
    Examples:
      xedge verify --inventory inventories/pis --release r0123456789ab
      xedge verify --inventory inventories/pis --scenario S.yaml --duration 30s
    """
    from xedgesim.deploy.verification import run_scenario, verify_inventory

    workload = None
    if scenario is not None:
        from xedgesim.fleetrun.command import load

        workload = load(scenario, duration_ns)  # refused before the fleet is touched
    elif duration_ns is not None:
        raise click.UsageError("--duration needs --scenario")
    run_dir, result = verify_inventory(inventory, out=out, release_id=release_id,
                                       images=images, secrets_file=secrets, store=store,
                                       restart_broker=restart_broker, say=click.echo)
    click.echo(f"\nJUnit XML: {result.junit}")
    if not result.passed:
        click.echo(f"verify FAILED: {result.summary()}", err=True)
        for line in result.failed:
            click.echo(f"  {line}", err=True)
        if workload is not None:
            click.echo("  the scenario was not run: the fleet did not pass verification",
                       err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"verify passed: {result.summary()}")
    if workload is not None:
        done = run_scenario(inventory, workload, run_dir, secrets_file=secrets, say=click.echo)
        if not done.valid:
            click.echo(f"fleet run INVALID: the run could not keep pace (p95 lag past its "
                       f"bound); results in {done.out}", err=True)
            sys.exit(EXIT_FAILED)


@click.command("releases")
@RELEASES_OPTION
def releases(store: Path | None) -> None:
    """List the releases a passing `xedge stage` recorded, newest first: id, when, the
    verification, the hosts it passed on and the image digests. `xedge deploy --release ID`
    deploys one of them.

    \b
    Example:
      xedge releases
    """
    from xedgesim.deploy.releases import format_listing, listing

    store = store or paths.releases_dir()
    click.echo(format_listing(listing(store), store))
