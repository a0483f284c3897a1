"""xedgesim/errors.py and its one handler in xedgesim/cli.py: every known error, raised by any
command, is one ``error:`` line on stderr and its own exit code, with no traceback."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from xedgesim import cli
from xedgesim.calibrate.records import RecordsError
from xedgesim.compare.runs import CompareInputError
from xedgesim.deploy import errors as deploy_errors
from xedgesim.deploy.smoke import SmokeFailure
from xedgesim.docker.containers import ContainerError
from xedgesim.docker.protocol import ConnectionClosed, ProtocolError
from xedgesim.engine import EngineUnavailable
from xedgesim.errors import BadInput, NodeFailure, XedgeError
from xedgesim.fleetrun.faults import FaultRefused
from xedgesim.images import errors as images_errors
from xedgesim.images.packages import PackageListError
from xedgesim.linkproxy.proxy import LinkProxyError
from xedgesim.linkproxy.selfcheck import SelfCheckFailed
from xedgesim.project import ProjectFilesMissing
from xedgesim.rundir import OutputError
from xedgesim.scenario.errors import Problem, ScenarioError
from xedgesim.sweep.executors import ClusterUnavailable
from xedgesim.sweep.grid import GridError
from xedgesim.units import UnitError

MESSAGE = "the thing at /some/where is wrong: do this instead"

EXIT_CODES: dict[type[XedgeError], int] = {
    XedgeError: 1, BadInput: 2, NodeFailure: 1, ProtocolError: 1, ConnectionClosed: 1,
    ContainerError: 1, OutputError: 2, UnitError: 2, CompareInputError: 2,
    ProjectFilesMissing: 1, EngineUnavailable: 1,
    deploy_errors.DeployError: 1, deploy_errors.UsageError: 2,
    deploy_errors.ReleaseRefused: 2, deploy_errors.Interrupted: 130,
    images_errors.ImagesError: 1, images_errors.EngineUnavailable: 1,
    images_errors.HostNotReady: 1, images_errors.BuildFailed: 1, PackageListError: 1,
    ScenarioError: 2, SmokeFailure: 1, LinkProxyError: 2, SelfCheckFailed: 2,
    RecordsError: 2, GridError: 2, ClusterUnavailable: 1, FaultRefused: 2,
}


def make(kind: type[XedgeError]) -> XedgeError:
    if kind is ScenarioError:
        return ScenarioError([Problem(None, MESSAGE)])
    if kind is GridError:
        return GridError([MESSAGE])
    if kind is UnitError:
        return UnitError("duration", "is not a duration", "write e.g. 10s")
    return kind(MESSAGE)


def xedge_with(error: BaseException) -> click.Group:
    """A group like ``xedge`` (the same class) with one command that raises ``error``."""
    group = cli.LazyGroup(name="xedge")

    @group.command("fail")
    def fail() -> None:
        raise error

    return group


def subclasses(kind: type) -> set[type]:
    found = set(kind.__subclasses__())
    for sub in list(found):
        found |= subclasses(sub)
    return found


def test_the_xedge_command_is_the_group_that_reports() -> None:
    assert isinstance(cli.main, cli.LazyGroup)


def test_every_error_class_has_its_exit_code_listed() -> None:
    assert subclasses(XedgeError) | {XedgeError} <= set(EXIT_CODES)


@pytest.mark.parametrize("kind", list(EXIT_CODES), ids=lambda kind: kind.__qualname__)
def test_an_error_is_one_line_and_its_exit_code(kind: type[XedgeError]) -> None:
    error = make(kind)
    result = CliRunner().invoke(xedge_with(error), ["fail"])

    assert result.exit_code == EXIT_CODES[kind] == kind.exit_code
    assert result.stderr == f"error: {error}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_a_note_follows_the_message_on_its_own_line() -> None:
    error = NodeFailure("node gw-0: container exited 3")
    error.note = "the run stopped; no container is left and nothing was written"

    result = CliRunner().invoke(xedge_with(error), ["fail"])

    assert result.exit_code == 1
    assert result.stderr == ("error: node gw-0: container exited 3\n"
                             "the run stopped; no container is left and nothing was written\n")


def test_a_nested_group_reports_through_the_top_one() -> None:
    top = cli.LazyGroup(name="xedge")
    inner = click.Group(name="tools")  # not a real command's name: LazyGroup would load it
    top.add_command(inner)

    @inner.command("build")
    def build() -> None:
        raise images_errors.BuildFailed("debootstrap failed: see /tmp/x/log")

    result = CliRunner().invoke(top, ["tools", "build"])

    assert (result.exit_code, result.stderr) == (1, "error: debootstrap failed: see /tmp/x/log\n")


def test_a_bug_is_not_dressed_as_a_known_error() -> None:
    result = CliRunner().invoke(xedge_with(RuntimeError("a bug")), ["fail"])

    assert isinstance(result.exception, RuntimeError)
    assert "error:" not in result.output


def test_an_interrupt_is_not_an_error() -> None:
    from xedgesim.interrupts import Interrupted

    assert not issubclass(Interrupted, Exception)


def test_a_deploy_stopped_by_sigterm_exits_143() -> None:
    import signal

    error = deploy_errors.Interrupted("stage interrupted; artifacts in runs/s", signal.SIGTERM)
    result = CliRunner().invoke(xedge_with(error), ["fail"])

    assert (result.exit_code, result.stderr) == (143, f"error: {error}\n")
