"""xedgesim/deploy/scenario_config.py: the scenario rendered into the roles' variables per
host, refused where a fleet cannot realise it; parity records in the manifest and the
``--require-parity`` refusal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from tests.ci import missing
from xedgesim.cli import main
from xedgesim.deploy import manifest, paths, scenario_config, secrets
from xedgesim.deploy.errors import ReleaseRefused, UsageError
from xedgesim.deploy.fleet_view import open_fleet
from xedgesim.deploy.release import ImageRef, Release
from xedgesim.deploy.runner import executable_path
from xedgesim.scenario import ScenarioError, load_scenario, load_scenario_text
from xedgesim.scenario.model import GatewayParams
from xedgesim.scenario.placement import from_options

PROJECT = paths.project_root()
FLEET_SCENARIO = PROJECT / "scenarios" / "fleet_parity.yaml"
GW = "implementation: docker, image: xedgesim/gateway, docker: {mode: service}"
# A scenario whose every rendered value differs from the roles' defaults.
TEXT = """\
duration: 30s
nodes:
  - {id: probes, type: sensor, count: 3, interval: 2s, to: hub, topic: "plant/{id}/bar"}
  - {id: direct, type: sensor, interval: 1s, to: agg7, topic: "line/{index}/{id}/kpa"}
  - {id: hub, type: broker, implementation: docker, image: xedgesim/broker}
  - {id: agg7, type: gateway, GW, subscribe: {broker: hub, topics: ["plant/+/bar"]}, \
aggregate_every: 7s, to: sink, topic: "up/{id}/mean"}
  - {id: sink, type: cloud}
""".replace("GW", GW)


def scenario(text: str = TEXT, name: str = "s.yaml"):
    return load_scenario_text(text, name)


def test_the_gateway_and_broker_settings_come_from_the_scenario() -> None:
    loaded = scenario()
    plan = scenario_config.plan(loaded, ["edge-1", "edge-2"])
    gateway = loaded.node("agg7").params
    assert isinstance(gateway, GatewayParams) and gateway.subscription and gateway.publish
    assert plan.hosts == ("edge-1", "edge-2")
    for site in plan.sites:
        assert (site.broker, site.gateways) == ("hub", ("agg7",))
        assert site.sensors == ("probes", "direct")
        # the subscription, then the filter of the sensor that sends to the gateway itself
        assert site.sensor_topics == (*gateway.subscription.topics, "line/+/+/kpa")
        assert site.forward_topic == gateway.publish.topic.replace("{id}", "agg7")
        assert site.window_ns == gateway.aggregate_every_ns
        assert site.qos == gateway.subscription.qos
        variables = site.role_vars
        assert variables["xedgesim_sensor_topics"] == list(site.sensor_topics)
        assert variables["xedgesim_upstream_topic"] == site.forward_topic
        assert variables["xedgesim_gateway_window_s"] * 10**9 == gateway.aggregate_every_ns
        assert variables["edge_gateway_qos"] == gateway.subscription.qos
        # the probe writes a topic the gateway hears and no sensor writes
        assert variables["xedgesim_probe_topic"] == "plant/xedgesim-probe/bar"
        acl = {entry["user"]: entry for entry in variables["mqtt_broker_acl"]}
        assert acl[plan.gateway_user] == {"user": "gateway", "read": list(site.sensor_topics),
                                          "write": [site.forward_topic]}
        assert acl[plan.sensor_user]["write"] == ["plant/+/bar", "line/+/+/kpa"]
        assert acl[plan.cloud_user] == {"user": "cloud", "read": [site.forward_topic]}
        assert acl[plan.probe_user]["read"] == [site.forward_topic]
    assert json.loads(json.dumps(plan.as_dict()))["sites"][0]["forward_topic"] == "up/agg7/mean"


def test_the_repositorys_fleet_scenario_renders() -> None:
    loaded = load_scenario(FLEET_SCENARIO)
    plan = scenario_config.plan(loaded, ["edge-1"])
    assert plan.sha256 == scenario_config.file_sha256(FLEET_SCENARIO)
    assert plan.site("edge-1").role_vars["xedgesim_scenario"]["path"] == str(FLEET_SCENARIO)


def test_the_placement_option_replaces_the_scenarios(tmp_path: Path) -> None:
    text = TEXT + (
        "  - {id: hub2, type: broker, implementation: docker, image: xedgesim/broker}\n"
        f'  - {{id: agg8, type: gateway, {GW}, subscribe: {{broker: hub2, topics: ["x/+"]}}, '
        "to: sink}\n"
        'placement:\n  "*": [hub, agg7]\n  b: [hub2, agg8]\n')
    path = tmp_path / "two.yaml"
    path.write_text(text)
    plan = scenario_config.load_plan(path, ["a", "b"])
    assert [(s.host, s.broker) for s in plan.sites] == [("a", "hub"), ("b", "hub2")]
    swapped = scenario_config.load_plan(path, ["a", "b"], ["a=hub2,agg8", "b=hub,agg7"])
    assert [(s.host, s.broker) for s in swapped.sites] == [("a", "hub2"), ("b", "hub")]
    assert swapped.placement == "--place"
    with pytest.raises(UsageError, match="expected HOST=NODE"):
        scenario_config.load_plan(path, ["a"], ["a"])


@pytest.mark.parametrize(("change", "expected"), [
    (("to: sink, topic", "to: hub, topic"), None),  # to its own broker: fine
    (("aggregate_every: 7s", "aggregate_every: 1500ms"),
     "s.yaml:6:5: gateway 'agg7' aggregates every 1.5s; on a fleet the window is set in whole "
     "seconds (xedgesim_gateway_window_s) (write aggregate_every: 2s)"),
    (('topics: ["plant/+/bar"]}', 'topics: ["plant/+/bar"], qos: 1}'),
     "s.yaml:6:5: gateway 'agg7' subscribes with QoS 1 and publishes with QoS 0; the gateway "
     "service uses one QoS for both (give both 'qos: 1')"),
    ((", to: sink, topic: \"up/{id}/mean\"", ""),
     "s.yaml:6:5: gateway 'agg7' forwards nowhere (no 'to'), and the gateway service always "
     "publishes its aggregates (give it 'to: cloud' (or its broker))"),
])
def test_what_the_gateway_service_cannot_do_is_refused_at_the_gateway(
        change: tuple[str, str], expected: str | None) -> None:
    loaded = scenario(TEXT.replace(*change))
    if expected is None:
        assert scenario_config.plan(loaded, ["edge-1"]).site("edge-1").forward_topic
        return
    with pytest.raises(ScenarioError) as caught:
        scenario_config.plan(loaded, ["edge-1"])
    assert [str(p) for p in caught.value.problems] == [expected]


def test_the_default_placement_refuses_two_brokers_at_their_definitions() -> None:
    text = TEXT + "  - {id: hub2, type: broker, implementation: docker, image: x/broker}\n"
    with pytest.raises(ScenarioError) as caught:
        scenario_config.plan(scenario(text), ["edge-1", "edge-2"])
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:8:5: the default placement (every broker and gateway on every host) places "
        "two brokers on every host ('hub', 'hub2') (a host runs one broker: place the others "
        "on other hosts)"]


def test_a_simulation_only_scenario_is_refused_with_every_place() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_config.plan(load_scenario(PROJECT / "scenarios" / "quickstart.yaml"), ["e"])
    found = [str(p) for p in caught.value.problems]
    assert len(found) == 2
    assert found[0].endswith("broker 'broker' runs as python_model, a model of the simulation, "
                             "and cannot be placed on a host (a host runs the broker image: "
                             "write implementation: docker, image: xedgesim/broker:…)")
    assert ":26:5: gateway 'gw1' runs as python_model" in found[1]


def test_an_unknown_host_in_the_placement_is_located() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_config.plan(scenario(TEXT + "placement:\n  edge-9: [hub, agg7]\n"),
                             ["edge-1"])
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:9:3: 'placement' gives no site to host(s) edge-1 (every host of the inventory "
        "runs a broker and a gateway: name them, or add '*')",
        "s.yaml:9:3: 'placement' names host 'edge-9', which the inventory does not have (did "
        "you mean 'edge-1'?)"]


def test_the_sensor_and_cloud_logins_are_the_fleets_secrets(tmp_path: Path) -> None:
    plan = scenario_config.plan(scenario(), ["edge-1"])
    users = secrets.load_users(secrets.generate(tmp_path / "s", scenario_config.USERS))
    sensor, cloud = plan.logins(users)
    assert (sensor.name, cloud.name) == ("sensor", "cloud")
    assert sensor.password and sensor.password not in repr((sensor, cloud))
    with pytest.raises(Exception, match="no MQTT user 'sensor'"):
        plan.logins([u for u in users if u.name != "sensor"])


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inv" / "hosts.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"edge": {"hosts": {
        "edge-1": {"ansible_connection": "local", "xedgesim_arch": "amd64"},
        "edge-2": {"ansible_connection": "local", "xedgesim_arch": "amd64"}}}}))
    (path.parent / "group_vars").mkdir()
    (path.parent / "group_vars" / "edge.yml").write_text(yaml.safe_dump(
        {"xedgesim_gateway_window_s": 99, "xedgesim_upstream_topic": "hand/written"}))
    return path


def test_the_overlay_is_what_every_reader_of_the_fleet_sees(inventory: Path,
                                                             tmp_path: Path) -> None:
    """Through ansible-inventory, as the playbooks and the suite read it: the rendered values
    beat the inventory's group_vars; a host_vars override is named as drift."""
    if shutil.which("ansible-inventory", path=executable_path()) is None:  # as xedge looks
        missing("ansible-inventory is not installed (pip install ansible)")
    plan = scenario_config.plan(scenario(), ["edge-1", "edge-2"])
    fleet = open_fleet(inventory, project=PROJECT)
    lines: list[str] = []
    opened = scenario_config.deploy_fleet(fleet, plan, tmp_path / "run", lines.append)
    overlay = tmp_path / "run" / "scenario" / "fleet-vars.yml"
    assert opened.overlays == (PROJECT / "inventories" / "production.yml", overlay)
    for host in opened.hosts:
        rendered = plan.site(host.name).role_vars
        assert {name: host.vars[name] for name in rendered} == rendered
    assert not any("DRIFT" in line for line in lines)
    assert lines[0].startswith("scenario s (s.yaml")
    # the same file, reopened the way the suite does, and an override by host_vars
    data = yaml.safe_load(inventory.read_text())
    data["edge"]["hosts"]["edge-2"]["xedgesim_gateway_window_s"] = 3
    inventory.write_text(yaml.safe_dump(data))
    again = open_fleet(inventory, list(opened.overlays), project=PROJECT)
    assert scenario_config.drift(plan, again.hosts) == [
        "edge-2: xedgesim_gateway_window_s is 3 in the inventory, 7 in the scenario"]


# -- parity (manifest side and --require-parity) ------------------------------------------

BROKER = "sha256:" + "b" * 64
GATEWAY = "sha256:" + "a" * 64
RELEASE = Release((ImageRef("broker", "amd64", "xedgesim/broker:0.1.0-amd64", BROKER),
                   ImageRef("gateway", "amd64", "xedgesim/gateway:0.1.0-amd64", GATEWAY)))


def stored(tmp_path: Path, *records: manifest.ParityRecord) -> Path:
    verification = manifest.Verification(True, 30, 0, 0, 0, "verify/junit.xml", True,
                                         ("edge-1",))
    document = manifest.build(RELEASE, verification, stage={}, scenario=FLEET_SCENARIO,
                              parity=records)
    store = tmp_path / "releases"
    manifest.record(document, tmp_path / "run", store)
    return store


def record(tmp_path: Path, verdict: str, scenario_file: Path = FLEET_SCENARIO,
           tolerance: Path | None = None, run_dir: Path | None = None) -> manifest.ParityRecord:
    report = tmp_path / f"compare-{verdict}.json"
    breaches = int(verdict == "breach")
    report.write_text(json.dumps({"verdict": verdict, "metrics": [], "counts": {
        "pass": 30 - breaches, "breach": breaches, "skipped": 2}}))
    return manifest.parity_record(scenario_file, tmp_path / "fleet-run", report,
                                  tolerance=tolerance, simulation_run=tmp_path / "sim", now=0,
                                  run_dir=run_dir)


def test_a_parity_record_travels_in_the_manifest(tmp_path: Path) -> None:
    tolerance = tmp_path / "tol.yaml"
    tolerance.write_text("metrics: {}\n")
    made = record(tmp_path, "pass", tolerance=tolerance)
    assert made.scenario_sha256 == scenario_config.file_sha256(FLEET_SCENARIO)
    assert made.tolerance_sha256 == scenario_config.file_sha256(tolerance)
    assert manifest.ParityRecord.from_dict(made.as_dict()) == made
    store = stored(tmp_path)
    manifest.record_parity(RELEASE.id, made, store, run_dir=tmp_path / "run")
    for path in (store / f"{RELEASE.id}.json", tmp_path / "run" / "manifest.json"):
        document = json.loads(path.read_text())
        assert document["parity"] == [made.as_dict()]
        assert document["scenario"]["sha256"] == made.scenario_sha256
    # the same comparison recorded again replaces its record
    again = manifest.attach_parity(json.loads((store / f"{RELEASE.id}.json").read_text()),
                                   made)
    assert len(again["parity"]) == 1


def test_a_record_inside_its_run_is_relative_to_it_and_holds_the_reports_hash_and_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "stage-1"
    (run / "parity").mkdir(parents=True)
    Path("parity.yaml").write_text("metrics: {}\n")
    shutil.copy(FLEET_SCENARIO, "fleet_parity.yaml")
    made = record(run / "parity", "pass", scenario_file=Path("fleet_parity.yaml"),
                  tolerance=Path("parity.yaml"), run_dir=run)
    report = run / "parity" / "compare-pass.json"
    assert (made.fleet_run, made.compare_report, made.simulation_run) == (
        "parity/fleet-run", "parity/compare-pass.json", "parity/sim")
    # outside the run: as given, a relative path not made absolute (no home in the manifest)
    assert (made.scenario_path, made.tolerance_path) == ("fleet_parity.yaml", "parity.yaml")
    assert made.compare_report_sha256 == scenario_config.file_sha256(report)
    assert made.counts == {"pass": 30, "breach": 0, "skipped": 2}
    assert str(tmp_path) not in json.dumps(made.as_dict())
    assert manifest.ParityRecord.from_dict(made.as_dict()) == made
    assert manifest.portable_path(tmp_path / "elsewhere", run) == str(tmp_path / "elsewhere")


def test_a_manifest_copied_with_its_run_still_says_and_proves_what_it_proves(
        tmp_path: Path) -> None:
    run = tmp_path / "stage-1"
    (run / "parity").mkdir(parents=True)
    made = record(run / "parity", "pass", run_dir=run)
    manifest.write_json(run / manifest.FILE_NAME, manifest.build(
        RELEASE, manifest.Verification(True, 1, 0, 0, 0, "verify/junit.xml"),
        stage={"run": str(run)}, scenario=FLEET_SCENARIO, parity=[made]))
    copy = shutil.copytree(run, tmp_path / "another-machine" / "stage-1")
    shutil.rmtree(run)
    [entry] = json.loads((copy / manifest.FILE_NAME).read_text())["parity"]
    moved = manifest.ParityRecord.from_dict(entry)
    assert moved.passed and moved.counts == {"pass": 30, "breach": 0, "skipped": 2}
    assert scenario_config.file_sha256(copy / moved.compare_report) == \
        moved.compare_report_sha256


def test_a_record_written_before_the_reports_hash_and_counts_is_still_read(
        tmp_path: Path) -> None:
    old = {"scenario": {"path": "/home/me/s.yaml", "sha256": "82a2"},
           "fleet_run": "/home/me/runs/stage-1/fleet-run", "simulation_run": None,
           "compare_report": "/home/me/runs/stage-1/parity/compare.json", "verdict": "pass",
           "tolerance": None, "recorded": "2026-11-29T16:40:00Z"}
    read = manifest.ParityRecord.from_dict(old)
    assert read.passed and read.compare_report_sha256 is None and read.counts is None
    assert read.compare_report == "/home/me/runs/stage-1/parity/compare.json"
    with pytest.raises(UsageError, match="not a parity record: ValueError counts"):
        manifest.ParityRecord.from_dict({**old, "counts": {"pass": 3, "breach": -1}})
    report = tmp_path / "compare.json"
    report.write_text(json.dumps({"verdict": "pass", "metrics": []}))  # no counts
    with pytest.raises(UsageError, match="cannot read its verdict and counts"):
        manifest.parity_record(FLEET_SCENARIO, tmp_path, report)


def test_parity_attached_to_another_runs_stored_manifest_names_its_own_run(
        tmp_path: Path) -> None:
    store = tmp_path / "releases"
    older, newer = tmp_path / "stage-1", tmp_path / "stage-2"
    verification = manifest.Verification(True, 1, 0, 0, 0, "verify/junit.xml")
    for run in (older, newer):  # the same release staged twice: the store keeps the newer
        (run / "parity").mkdir(parents=True)
        manifest.record(manifest.build(RELEASE, verification, stage={"run": str(run)},
                                       parity=[record(run / "parity", "pass", run_dir=run)]),
                        run, store)
    again = record(older / "parity", "pass", run_dir=older)  # --step parity on the older run
    manifest.record_parity(RELEASE.id, again, store, run_dir=older)
    in_store = json.loads((store / f"{RELEASE.id}.json").read_text())["parity"]
    assert [entry["fleet_run"] for entry in in_store] == [
        "parity/fleet-run", str(older / "parity" / "fleet-run")]  # the newer run's, the older's
    in_run = json.loads((older / manifest.FILE_NAME).read_text())["parity"]
    assert in_run == [again.as_dict()]  # its own manifest: relative, replacing its record


def test_parity_is_never_attached_to_a_changed_release_record(tmp_path: Path) -> None:
    document = json.loads((stored(tmp_path) / f"{RELEASE.id}.json").read_text())
    document["images"]["amd64"]["gateway"]["id"] = "sha256:" + "c" * 64
    with pytest.raises(UsageError, match="changed after it was written"):
        manifest.attach_parity(document, record(tmp_path, "pass"))
    with pytest.raises(UsageError, match="not a parity record"):
        manifest.ParityRecord.from_dict({**record(tmp_path, "pass").as_dict(),
                                         "verdict": "maybe"})


def test_require_parity_needs_a_passing_record_for_the_scenarios_bytes(tmp_path: Path) -> None:
    with pytest.raises(ReleaseRefused) as none:
        scenario_config.require_parity(RELEASE, FLEET_SCENARIO, stored(tmp_path / "a"))
    assert none.value.exit_code == 2
    assert "has no passing parity for the scenario" in str(none.value)
    assert "parity recorded for this release: none" in str(none.value)

    with pytest.raises(ReleaseRefused, match=r"recorded for this release: breach for .*"
                                             r"fleet_parity.yaml"):
        scenario_config.require_parity(RELEASE, FLEET_SCENARIO,
                                       stored(tmp_path / "b", record(tmp_path, "breach")))

    edited = tmp_path / "edited.yaml"
    edited.write_text(FLEET_SCENARIO.read_text() + "# one more line\n")
    store = stored(tmp_path / "c", record(tmp_path, "pass"))
    with pytest.raises(ReleaseRefused, match="no passing parity"):
        scenario_config.require_parity(RELEASE, edited, store)
    found = scenario_config.require_parity(RELEASE, FLEET_SCENARIO, store)
    assert found["verdict"] == "pass"


def test_deploy_checks_parity_before_it_plans(tmp_path: Path) -> None:
    options = SimpleNamespace(scenario=FLEET_SCENARIO, place=(), require_parity=True,
                              store=stored(tmp_path))
    fleet = SimpleNamespace(names=("edge-1",))
    with pytest.raises(ReleaseRefused):
        scenario_config.for_deploy(options, fleet, RELEASE)
    options.require_parity = False
    assert scenario_config.for_deploy(options, fleet, RELEASE).hosts == ("edge-1",)
    options.scenario = None
    assert scenario_config.for_deploy(options, fleet, RELEASE) is None


def test_require_parity_without_a_scenario_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["deploy", "--inventory", str(tmp_path),
                                       "--require-parity"])
    assert result.exit_code == 2
    assert "--require-parity needs --scenario" in result.output


def test_the_listing_shows_each_scenarios_newest_verdict(tmp_path: Path) -> None:
    from xedgesim.deploy.releases import format_listing, listing

    later = tmp_path / "later"
    later.mkdir()
    store = stored(tmp_path, record(tmp_path, "breach"), record(later, "pass"))
    rows = listing(store)
    assert [row.parity for row in rows] == ["pass fleet_parity.yaml"]
    table = format_listing(rows, store).splitlines()
    assert table[0].split()[:6] == ["RELEASE", "CREATED", "(UTC)", "VERIFIED", "PARITY",
                                    "HOSTS"]
    empty = stored(tmp_path / "none")
    assert [row.parity for row in listing(empty)] == ["-"]


def test_the_placement_a_fleet_was_converged_with_is_read_back() -> None:
    loaded = scenario(TEXT + "  - {id: hub2, type: broker, implementation: docker, "
                      "image: x/broker}\n" + f"  - {{id: agg8, type: gateway, {GW}, "
                      'subscribe: {broker: hub2, topics: ["x/+"]}, to: sink}\n')
    converged = scenario_config.plan(loaded, ["a", "b"], placement=from_options(
        ["a=hub2,agg8", "b=hub,agg7"]))
    hosts = [SimpleNamespace(name=h, vars=v) for h, v in converged.host_vars().items()]
    placement = scenario_config.deployed_placement(hosts)
    again = scenario_config.plan(loaded, ["a", "b"], placement=placement)
    assert again.host_vars() == converged.host_vars()
    hosts[1].vars = {}
    assert scenario_config.deployed_placement(hosts) is None
