"""roles/image_release/tasks/ship.yml against this machine's engine (connection local): a thin
archive made from a stale picture of the device does not load, and the whole archive does."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import docker

from xedgesim.project import project_root

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_tasks: {ship}
"""

def test_a_thin_archive_that_does_not_load_is_replaced_by_the_whole(
        amd64_build: Any, docker_client: Any, tmp_path: Path) -> None:
    [base] = amd64_build.bases
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base.tag}\nCOPY a /a\nCOPY b /b\n")
    (context / "a").write_text(uuid.uuid4().hex * 100)
    (context / "b").write_text(uuid.uuid4().hex * 100)
    tag = f"xedgesim-test-ship:{uuid.uuid4().hex[:8]}"
    image, _ = docker_client.images.build(path=str(context), tag=tag, pull=False, rm=True,
                                          labels={"org.xedgesim.test": "integration"})
    try:
        full = tmp_path / "image.tar"
        with full.open("wb") as handle:
            for chunk in image.save(named=tag):
                handle.write(chunk)
        stale = [image.attrs["RootFS"]["Layers"]]  # the device "had" every layer: it has not
        docker_client.images.remove(image.id, force=True)
        root = project_root()
        playbook = tmp_path / "ship.yml"
        playbook.write_text(PLAYBOOK.format(ship=root / "roles/image_release/tasks/ship.yml"))
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps({
            "image_release_name": "probe",
            "image_release_image": {"id": image.id, "tag": tag, "archive": str(full)},
            "image_release_dir": str(tmp_path / "device"),
            "image_release_archive": str(tmp_path / "device" / "image.tar"),
            "image_release_registry": "", "image_release_keep_archives": False,
            "image_release_device_layers": stale,  # extra vars outrank the role's own
            "ansible_python_interpreter": sys.executable,
        }))
        done = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook),
             "-e", f"@{extra}"],
            env={**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg")},
            capture_output=True, text=True, timeout=300)

        assert done.returncode == 0, done.stdout[-3000:]
        assert "rescued=1" in done.stdout
        assert docker_client.images.get(image.id).id == image.id
        assert not (tmp_path / "device" / "image.tar").exists()
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):  # a failed load left none
            docker_client.images.remove(tag, force=True)
