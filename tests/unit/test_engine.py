"""xedgesim/engine.py: the engine is found where the docker CLI finds it (DOCKER_HOST, the
current context, the usual sockets), and a missing engine says what was tried.

Every source is faked: a temporary HOME with its own ``.docker/config.json`` and context
``meta.json``, environment variables, and a tiny HTTP server on a unix socket that answers
the two requests a docker SDK client makes when it connects (``/version`` and ``/_ping``).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xedgesim import engine


def write_context(config_dir: Path, name: str, host: str, *, tls: bool = False,
                  skip_verify: bool = False) -> Path:
    """A context as `docker context create` writes it; returns its meta.json."""
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / context_id / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_verify}},
    }))
    if tls:
        tls_dir = config_dir / "contexts" / "tls" / context_id / "docker"
        tls_dir.mkdir(parents=True)
        for pem in ("ca", "cert", "key"):
            (tls_dir / f"{pem}.pem").write_text("not a real certificate\n")
    return meta


def use_context(config_dir: Path, name: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


# -- which endpoints, in which order ------------------------------------------------------


def test_docker_host_comes_first_and_alone(tmp_path: Path) -> None:
    use_context(tmp_path / ".docker", "colima")
    write_context(tmp_path / ".docker", "colima", "unix:///colima.sock")
    found = engine.endpoints({"DOCKER_HOST": "tcp://10.0.0.5:2376", "DOCKER_CONTEXT": "x"},
                             tmp_path)
    assert found == [engine.Endpoint("DOCKER_HOST", "tcp://10.0.0.5:2376",
                                     tls_from_environment=True)]


def test_the_current_context_of_config_json(tmp_path: Path) -> None:
    use_context(tmp_path / ".docker", "colima")
    write_context(tmp_path / ".docker", "colima", "unix:///Users/me/.colima/default/docker.sock")
    [endpoint] = engine.endpoints({}, tmp_path)
    assert endpoint.url == "unix:///Users/me/.colima/default/docker.sock"
    assert "'colima'" in endpoint.source and "config.json" in endpoint.source
    assert endpoint.tls_dir is None


def test_docker_context_overrides_config_json(tmp_path: Path) -> None:
    use_context(tmp_path / ".docker", "colima")
    write_context(tmp_path / ".docker", "colima", "unix:///colima.sock")
    write_context(tmp_path / ".docker", "remote", "tcp://build-box:2376", tls=True,
                  skip_verify=True)
    [endpoint] = engine.endpoints({"DOCKER_CONTEXT": "remote"}, tmp_path)
    assert endpoint.url == "tcp://build-box:2376"
    assert "DOCKER_CONTEXT" in endpoint.source
    assert endpoint.tls_dir is not None and (endpoint.tls_dir / "ca.pem").is_file()
    assert endpoint.skip_tls_verify


def test_docker_config_moves_the_configuration_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    use_context(elsewhere, "desk")
    write_context(elsewhere, "desk", "unix:///desk.sock")
    [endpoint] = engine.endpoints({"DOCKER_CONFIG": str(elsewhere)}, tmp_path / "home")
    assert endpoint.url == "unix:///desk.sock"


def test_a_context_without_meta_is_an_error_naming_the_file(tmp_path: Path) -> None:
    use_context(tmp_path / ".docker", "gone")
    with pytest.raises(engine.EngineUnavailable, match=r"'gone'.*meta\.json.*docker context ls"):
        engine.endpoints({}, tmp_path)


@pytest.mark.parametrize("config", [None, "{not json", json.dumps({"currentContext": "default"}),
                                    json.dumps({"auths": {}})])
def test_the_default_context_tries_the_usual_sockets(tmp_path: Path, config: str | None) -> None:
    if config is not None:
        (tmp_path / ".docker").mkdir()
        (tmp_path / ".docker" / "config.json").write_text(config)
    found = engine.endpoints({"XDG_RUNTIME_DIR": "/run/user/1000"}, tmp_path)
    assert [endpoint.url for endpoint in found] == [
        f"unix://{engine.SYSTEM_SOCKET}",
        "unix:///run/user/1000/docker.sock",
        f"unix://{tmp_path}/.docker/run/docker.sock",
        f"unix://{tmp_path}/.colima/default/docker.sock",
    ]


# -- connecting ----------------------------------------------------------------------------


class FakeEngine(http.server.BaseHTTPRequestHandler):
    """Just enough of the Engine API for a client to connect: /version and /_ping."""

    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            body, kind = b"OK", "text/plain"
        else:
            body, kind = json.dumps({"ApiVersion": "1.43", "Version": "fake"}).encode(), \
                "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:  # a unix socket has no (host, port)
        return "fake"

    def log_message(self, *args: object) -> None:
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        request, _ = super().get_request()
        return request, ("fake", 0)


@pytest.fixture
def fake_engine(tmp_path: Path) -> Iterator[Path]:
    """A path where a fake engine listens (create the parent directories first)."""
    path = tmp_path / "engine.sock"
    server = UnixHTTPServer(str(path), FakeEngine)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_system_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This machine's real /var/run/docker.sock would answer first: hide it."""
    monkeypatch.setattr(engine, "SYSTEM_SOCKET", tmp_path / "no-system" / "docker.sock")


def test_connect_falls_through_to_colimas_socket(tmp_path: Path, fake_engine: Path,
                                                  no_system_socket: None) -> None:
    colima = tmp_path / "home" / ".colima" / "default" / "docker.sock"
    colima.parent.mkdir(parents=True)
    colima.symlink_to(fake_engine)
    client = engine.connect(timeout=77, environ={}, home=tmp_path / "home")
    try:
        assert client.version()["Version"] == "fake"
        assert client.api.base_url == "http+docker://localhost"
        assert client.api.timeout == 77  # the ping had its own short timeout
    finally:
        client.close()


def test_connect_follows_the_current_context(tmp_path: Path, fake_engine: Path,
                                              no_system_socket: None) -> None:
    home = tmp_path / "home"
    use_context(home / ".docker", "colima")
    write_context(home / ".docker", "colima", f"unix://{fake_engine}")
    client = engine.connect(environ={}, home=home)
    try:
        assert client.ping()
    finally:
        client.close()


def test_no_engine_lists_every_socket_tried_and_how_to_start_one(
        tmp_path: Path, no_system_socket: None) -> None:
    with pytest.raises(engine.EngineUnavailable) as raised:
        engine.connect(environ={}, home=tmp_path)
    message = str(raised.value)
    for socket in (engine.SYSTEM_SOCKET, tmp_path / ".docker/run/docker.sock",
                   tmp_path / ".colima/default/docker.sock"):
        assert f"{socket}: no such socket" in message
    assert "Colima's socket" in message and "Docker Desktop's socket" in message
    assert "colima start" in message and "systemctl start docker" in message


def test_a_dead_docker_host_is_not_second_guessed(tmp_path: Path, fake_engine: Path) -> None:
    """DOCKER_HOST names an engine that does not answer: no fallback to a socket that does."""
    colima = tmp_path / "home" / ".colima" / "default" / "docker.sock"
    colima.parent.mkdir(parents=True)
    colima.symlink_to(fake_engine)
    refused = tmp_path / "refused.sock"
    refused.write_text("")  # exists, but nothing listens: the connection is refused
    with pytest.raises(engine.EngineUnavailable) as raised:
        engine.connect(environ={"DOCKER_HOST": f"unix://{refused}"}, home=tmp_path / "home")
    message = str(raised.value)
    assert f"DOCKER_HOST: unix://{refused}:" in message
    assert "Colima" not in message.split("start one")[0]


def test_every_command_uses_the_one_connect(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """Containers, images and the staging fleet all fail the same way, each as its own error."""
    from xedgesim.deploy import fleet
    from xedgesim.deploy.errors import DeployError
    from xedgesim.docker import containers
    from xedgesim.images import engine as images_engine
    from xedgesim.images.errors import EngineUnavailable as ImagesEngineUnavailable

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    for connect, error in ((containers.connect, containers.ContainerError),
                           (images_engine.connect, ImagesEngineUnavailable),
                           (fleet.connect, DeployError)):
        with pytest.raises(error, match=rf"tried:\n  DOCKER_HOST: {tmp_path}/missing.sock: "
                                        "no such socket"):
            connect()


class _LosingContainer:
    """A container whose engine loses the output of the first ``lose`` execs (reports
    success with nothing), as a loaded engine can; then runs the command for real."""

    name = "edge-9"

    def __init__(self, lose: int) -> None:
        self.lose = lose
        self.commands: list[list[str]] = []

    def exec_run(self, command: list[str]) -> Any:
        import subprocess
        from types import SimpleNamespace

        self.commands.append(command)
        if len(self.commands) <= self.lose:
            return SimpleNamespace(exit_code=0, output=b"")
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=False)  # one stream in time order, as the engine's
        return SimpleNamespace(exit_code=done.returncode, output=done.stdout)


def test_a_read_whose_output_the_engine_lost_is_run_again() -> None:
    from xedgesim.engine import read_in_container

    container = _LosingContainer(lose=2)
    assert read_in_container(container, ["printf", "ssh-ed25519 AAAA\n"]) == (
        0, "ssh-ed25519 AAAA\n")
    assert len(container.commands) == 3
    # an empty output that is really empty, and the command's own exit code
    assert read_in_container(_LosingContainer(lose=0), ["true"]) == (0, "")
    code, output = read_in_container(_LosingContainer(lose=0), ["cat", "/nonexistent/x"])
    assert code == 1 and "No such file" in output


def test_a_read_the_engine_keeps_losing_is_an_error_not_an_empty_answer() -> None:
    from xedgesim.engine import read_in_container
    from xedgesim.errors import XedgeError

    with pytest.raises(XedgeError, match="edge-9: cat /etc/hostname: the engine lost its "
                                         "output 5 times"):
        read_in_container(_LosingContainer(lose=99), ["cat", "/etc/hostname"])
