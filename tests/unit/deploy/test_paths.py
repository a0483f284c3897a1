"""xedgesim/deploy/paths.py: stage and deploy run directories follow xedgesim/rundir.py's
policy: ``--out`` checked by ``check_target``, a marker of the run's kind, ``--step`` checks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from xedgesim import rundir
from xedgesim.deploy import paths
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.stage import StageOptions, stage


def test_a_run_directory_is_marked_with_its_kind(tmp_path: Path) -> None:
    made = paths.run_dir(tmp_path / "runs" / "d", "deploy")

    assert rundir.read_marker(made)["kind"] == "deploy"
    assert rundir.read_marker(paths.new_run_dir("verify", base=tmp_path))["kind"] == "verify"


def test_no_other_run_ever_replaces_a_deploy_directory(tmp_path: Path) -> None:
    made = paths.run_dir(tmp_path / "d", "deploy")
    (made / "deploy.json").write_text("{}\n")

    with pytest.raises(rundir.OutputError, match=r"holds deploy\.json, which xedge did not"):
        rundir.check_target(made)


def test_a_bad_out_is_refused_by_the_common_policy(tmp_path: Path) -> None:
    with pytest.raises(rundir.OutputError, match="under /proc, a system pseudo-filesystem"):
        paths.run_dir(Path("/proc/xedge-run"), "deploy")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    with pytest.raises(rundir.OutputError, match="is a symbolic link"):
        paths.run_dir(tmp_path / "link", "deploy")
    assert list((tmp_path / "empty").iterdir()) == []


def test_out_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(rundir.OutputError, match="which is a file"):
        paths.run_dir(tmp_path / "file" / "run", "deploy")


def test_a_non_empty_out_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(UsageError, match="exists and is not empty"):
        paths.run_dir(tmp_path, "deploy")
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_step_on_a_run_of_another_kind_is_refused(tmp_path: Path) -> None:
    deploy_run = paths.run_dir(tmp_path / "d", "deploy")

    with pytest.raises(rundir.OutputError, match="a run of `xedge deploy`, not of `xedge stage`"):
        stage(StageOptions(out=deploy_run, steps=("verify",)), say=lambda text: None)
