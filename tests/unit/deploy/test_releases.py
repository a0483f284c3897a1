"""xedgesim/deploy/releases.py and the store's place (paths.releases_dir): one store per user,
whatever directory stage and deploy run in; ``--releases`` and ``$XEDGESIM_RELEASES`` move it;
``xedge releases`` lists it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.deploy import manifest, paths
from xedgesim.deploy.release import ImageRef, Release

BROKER = "sha256:" + "b" * 64
GATEWAY = "sha256:" + "a" * 64


def record(store: Path, arch: str = "amd64", now: float = 0, hosts: int = 2) -> Release:
    staged = Release((ImageRef("broker", arch, f"xedgesim/broker:0.1.0-{arch}", BROKER),
                      ImageRef("gateway", arch, f"xedgesim/gateway:0.1.0-{arch}", GATEWAY)))
    verification = manifest.Verification(True, 30, 0, 0, 0, "verify/junit.xml", True,
                                         tuple(f"edge-{n}" for n in range(1, hosts + 1)))
    document = manifest.build(staged, verification, stage={"hosts": hosts}, now=now)
    manifest.record(document, store.parent / f"run-{arch}", store)
    return staged


# -- where the store is ----------------------------------------------------------------------


def test_the_store_is_per_user_not_per_directory(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for cwd in (tmp_path, tmp_path / "home"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        assert paths.releases_dir({}) == tmp_path / "home/.local/state/xedgesim/releases"


def test_the_store_follows_xdg_state_home(tmp_path: Path) -> None:
    assert paths.releases_dir({"XDG_STATE_HOME": str(tmp_path)}) == \
        tmp_path / "xedgesim" / "releases"


def test_a_relative_xdg_state_home_is_ignored(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.releases_dir({"XDG_STATE_HOME": "state"}) == \
        tmp_path / ".local/state/xedgesim/releases"


def test_xedgesim_releases_overrides_everything(tmp_path: Path) -> None:
    environ = {"XEDGESIM_RELEASES": str(tmp_path / "mine"), "XDG_STATE_HOME": "/elsewhere"}
    assert paths.releases_dir(environ) == tmp_path / "mine"


# -- the listing -----------------------------------------------------------------------------


def listed(store: Path) -> str:
    from xedgesim.deploy.releases import format_listing, listing

    return format_listing(listing(store), store)


def test_listing_shows_id_date_verdict_hosts_and_digests_newest_first(tmp_path: Path) -> None:
    store = tmp_path / "releases"
    older = record(store, "amd64", now=0)
    newer = record(store, "arm64", now=86400, hosts=200)
    text = listed(store)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["RELEASE", "CREATED", "(UTC)"]
    assert lines[1].startswith(newer.id) and "1970-01-02T00:00:00Z" in lines[1]
    assert "edge-1, edge-2, edge-3, … (200)" in lines[1]
    assert lines[2].startswith(older.id) and "edge-1, edge-2" in lines[2]
    assert "passed (30 tests, idempotent)" in lines[2]
    assert "amd64 broker bbbbbbbbbbbb, gateway aaaaaaaaaaaa" in lines[2]
    assert lines[-1] == f"store: {store}"


def test_a_hand_edited_manifest_is_listed_not_a_traceback(tmp_path: Path) -> None:
    store = tmp_path / "releases"
    store.mkdir()
    (store / "odd.json").write_text(json.dumps({
        "schema": manifest.SCHEMA, "release": "rodd", "created": 5, "images": ["x"],
        "verification": {"passed": False, "tests": "many", "failures": None, "hosts": "edge-1"},
    }))
    (store / "odder.json").write_text(json.dumps({
        "schema": manifest.SCHEMA, "release": "rodder", "verification": [1],
        "images": {"amd64": {"broker": "sha256:1"}, "arm64": 7},
    }))
    text = listed(store)
    assert "rodd " in text and "FAILED (0 of 0 tests)" in text
    assert "rodder" in text


def test_an_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    assert "a passing `xedge stage` records one" in listed(tmp_path / "none")


# -- the commands ----------------------------------------------------------------------------


def test_xedge_releases_reads_the_store_of_the_environment(tmp_path: Path) -> None:
    staged = record(tmp_path / "releases")
    result = CliRunner().invoke(main, ["releases"],
                                env={"XEDGESIM_RELEASES": str(tmp_path / "releases")})
    assert result.exit_code == 0, result.output
    assert staged.id in result.output


def test_xedge_releases_option_beats_the_environment(tmp_path: Path) -> None:
    staged = record(tmp_path / "chosen")
    result = CliRunner().invoke(main, ["releases", "--releases", str(tmp_path / "chosen")],
                                env={"XEDGESIM_RELEASES": str(tmp_path / "other")})
    assert result.exit_code == 0 and staged.id in result.output


def test_releases_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(main, ["releases", "--releases", str(tmp_path / "file")])
    assert result.exit_code == 2 and "--releases" in result.output


@pytest.mark.parametrize("command", ["stage", "deploy", "verify"])
def test_stage_deploy_and_verify_take_releases(command: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The option reaches the function that reads or writes the store."""
    from xedgesim.deploy import deploy, stage, verification
    from xedgesim.deploy.errors import UsageError

    seen: dict[str, Any] = {}

    def capture(options: Any = None, *args: Any, store: Path | None = None,
                **kwargs: Any) -> Any:
        seen["store"] = store if store is not None else options.store
        raise UsageError("captured")

    monkeypatch.setattr(stage, "stage", capture)
    monkeypatch.setattr(deploy, "deploy", capture)
    monkeypatch.setattr(verification, "verify_inventory", capture)
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    extra = [] if command == "stage" else ["--inventory", str(tmp_path / "hosts.yml")]
    result = CliRunner().invoke(main, [command, *extra, "--releases", str(tmp_path / "r")])
    assert result.exit_code == 2 and "captured" in result.output
    assert seen["store"] == tmp_path / "r"
