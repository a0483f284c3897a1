"""`xedge stage --hosts 3 --keep` from a clean state (the package's kept fleet): it passes,
converges twice without a change, verifies, the manifest lists the digests, and no generated
secret leaked into the run directory or its output. That its ``destroy`` step leaves nothing
behind is checked when the package is done with the fleet (``kept_stage`` in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deploy.conftest import KeptStage
from xedgesim.deploy import secrets, state
from xedgesim.images import naming

pytestmark = pytest.mark.e2e


def files_containing(root: Path, needle: str, skip: Path) -> list[Path]:
    return [path for path in root.rglob("*")
            if path.is_file() and path != skip and needle.encode() in path.read_bytes()]


def test_stage_passes_and_records_the_digests(kept_stage: KeptStage, docker_client: Any,
                                              store: Path) -> None:
    run_dir, result = kept_stage.run_dir, kept_stage.result
    for step in ("[create] passed", "[converge] passed", "[idempotence] passed",
                 "[verify] passed"):
        assert step in result.output
    assert "changed=0 on every host; no container restarted" in result.output

    manifest = json.loads((run_dir / "manifest.json").read_text())
    recorded = state.load(run_dir)
    assert manifest["images"] == recorded.release
    for name in ("broker", "gateway"):
        entry = manifest["images"]["amd64"][name]
        image = docker_client.images.get(entry["id"])  # the digest is a real local image
        assert image.attrs["Architecture"] == "amd64"
        assert image.labels.get(naming.LABEL_IMAGE) == name
    assert manifest["verification"]["passed"] and manifest["verification"]["idempotent"]
    assert manifest["verification"]["hosts"] == ["edge-1", "edge-2", "edge-3"]
    assert manifest["verification"]["tests"] >= 30
    assert (run_dir / manifest["verification"]["junit"]).is_file()
    assert json.loads((store / f"{manifest['release']}.json").read_text()) == manifest

    # the generated passwords are in their 0600 file and nowhere else in the run
    secrets_file = Path(recorded.secrets or "")
    assert (secrets_file.stat().st_mode & 0o777) == 0o600
    for user in secrets.load_users(secrets_file):
        assert files_containing(run_dir, user.password, secrets_file) == []
        assert user.password not in result.output

    # the brokers' TLS keys likewise (0600, in a 0700 directory); the CA's key was never kept
    tls = run_dir / "tls"
    assert (tls.stat().st_mode & 0o777) == 0o700
    assert sorted(path.name for path in tls.glob("*.key")) == [
        "edge-1.key", "edge-2.key", "edge-3.key"]
    for key in tls.glob("*.key"):
        assert (key.stat().st_mode & 0o777) == 0o600
        body = key.read_text().splitlines()[1]  # the first line of the base64 key material
        assert files_containing(run_dir, body, key) == []
        assert body not in result.output
