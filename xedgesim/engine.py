"""The one way xedgesim finds and connects to a Docker engine: the way the ``docker`` CLI does.

Every command that needs an engine (container nodes, ``xedge images``, ``stage``, ``deploy``,
``verify``) calls ``connect``, so they all talk to the engine ``docker ps`` would show:

1. ``DOCKER_HOST`` (TLS from ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``, as the CLI reads them);
2. else the current Docker context: ``DOCKER_CONTEXT``, else ``currentContext`` of
   ``config.json`` (in ``$DOCKER_CONFIG``, default ``~/.docker``), whose endpoint is in
   ``contexts/meta/<sha256 of the name>/meta.json`` (TLS material beside it, under ``tls/``);
3. else (the ``default`` context) the usual sockets, first that answers: Linux's
   ``/var/run/docker.sock``, rootless Docker's ``$XDG_RUNTIME_DIR/docker.sock``, Docker
   Desktop's ``~/.docker/run/docker.sock`` and Colima's ``~/.colima/default/docker.sock``.

An explicit choice (1 or 2) is not second-guessed: when it does not answer, xedgesim says so
rather than silently using another engine. The docker SDK is imported only inside ``connect``,
so importing this module costs nothing on the pure-simulation path.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xedgesim.errors import XedgeError
from xedgesim.project import setup_command

if TYPE_CHECKING:
    import docker

DEFAULT_CONTEXT = "default"
SYSTEM_SOCKET = Path("/var/run/docker.sock")
CONNECT_TIMEOUT_S = 10  # for the first ping: a dead TCP endpoint must not hold a build's timeout


def start_hint() -> str:
    return (f"start one: `{setup_command()}` (Debian/Ubuntu: installs and starts Docker) or "
            "`sudo systemctl start docker` (Linux); Docker Desktop or `colima start` (macOS); "
            "or point DOCKER_HOST or `docker context use` at an engine that runs")


class EngineUnavailable(XedgeError):
    """No Docker engine answered; the message lists every endpoint tried and how to start one."""


@dataclass(frozen=True)
class Endpoint:
    """One place an engine may listen, and why xedgesim looks there (``source``)."""

    source: str
    url: str
    tls_dir: Path | None = None  # a context's ca.pem/cert.pem/key.pem
    skip_tls_verify: bool = False
    tls_from_environment: bool = False  # DOCKER_HOST: DOCKER_TLS_VERIFY and DOCKER_CERT_PATH

    @property
    def socket(self) -> Path | None:
        """The socket file of a ``unix://`` endpoint (checked before a client is made)."""
        return Path(self.url.removeprefix("unix://")) if self.url.startswith("unix://") else None


def config_dir(environ: Mapping[str, str], home: Path) -> Path:
    """The Docker CLI's configuration directory: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    configured = environ.get("DOCKER_CONFIG")
    return Path(configured) if configured else home / ".docker"


def current_context(environ: Mapping[str, str], home: Path) -> tuple[str, str]:
    """The current context's name and where that choice was made."""
    if name := environ.get("DOCKER_CONTEXT"):
        return name, "DOCKER_CONTEXT"
    config = config_dir(environ, home) / "config.json"
    try:
        document = json.loads(config.read_text())
    except (OSError, ValueError):  # no config, or one the CLI would also ignore for contexts
        return DEFAULT_CONTEXT, "no current context"
    name = document.get("currentContext") if isinstance(document, dict) else None
    return (name, str(config)) if isinstance(name, str) and name else (DEFAULT_CONTEXT, str(config))


def context_endpoint(name: str, chosen_by: str, environ: Mapping[str, str],
                     home: Path) -> Endpoint:
    """The docker endpoint of context ``name``, read from its ``meta.json``."""
    contexts = config_dir(environ, home) / "contexts"
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta = contexts / "meta" / context_id / "meta.json"
    try:
        document = json.loads(meta.read_text())
        endpoint = document["Endpoints"]["docker"]
        url = endpoint["Host"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "no Endpoints.docker.Host"
        raise EngineUnavailable(
            f"Docker context {name!r} (chosen by {chosen_by}) cannot be read: {meta}: {reason}; "
            "list the contexts with `docker context ls`, or unset the choice"
        ) from None
    if not isinstance(url, str) or not url:
        raise EngineUnavailable(f"Docker context {name!r}: {meta}: Endpoints.docker.Host is empty")
    tls_dir = contexts / "tls" / context_id / "docker"
    return Endpoint(f"Docker context {name!r} (chosen by {chosen_by})", url,
                    tls_dir=tls_dir if tls_dir.is_dir() else None,
                    skip_tls_verify=bool(endpoint.get("SkipTLSVerify")))


def usual_sockets(environ: Mapping[str, str], home: Path) -> list[Endpoint]:
    """Where engines listen when nothing was chosen, most common first."""
    sockets = [("the system engine's socket", SYSTEM_SOCKET)]
    if runtime := environ.get("XDG_RUNTIME_DIR"):
        sockets.append(("rootless Docker's socket", Path(runtime) / "docker.sock"))
    sockets += [("Docker Desktop's socket", home / ".docker" / "run" / "docker.sock"),
                ("Colima's socket", home / ".colima" / "default" / "docker.sock")]
    return [Endpoint(source, f"unix://{path}") for source, path in sockets]


def endpoints(environ: Mapping[str, str] | None = None, home: Path | None = None) -> list[Endpoint]:
    """The endpoints to try, in order (see the module docstring)."""
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    if host := environ.get("DOCKER_HOST"):
        return [Endpoint("DOCKER_HOST", host, tls_from_environment=True)]
    name, chosen_by = current_context(environ, home)
    if name != DEFAULT_CONTEXT:
        return [context_endpoint(name, chosen_by, environ, home)]
    return usual_sockets(environ, home)


def _client(endpoint: Endpoint, timeout: int) -> docker.DockerClient:
    import docker

    tls: docker.tls.TLSConfig | bool = False
    if endpoint.tls_from_environment:
        tls = docker.utils.kwargs_from_env().get("tls", False)
    elif endpoint.tls_dir is not None:
        files = {name: endpoint.tls_dir / f"{name}.pem" for name in ("ca", "cert", "key")}
        tls = docker.tls.TLSConfig(
            client_cert=(str(files["cert"]), str(files["key"]))
            if files["cert"].is_file() else None,
            ca_cert=str(files["ca"]) if files["ca"].is_file() else None,
            verify=not endpoint.skip_tls_verify)
    return docker.DockerClient(base_url=endpoint.url, timeout=timeout, tls=tls)


def connect(timeout: int = 120, ping_timeout: int = CONNECT_TIMEOUT_S,
            environ: Mapping[str, str] | None = None,
            home: Path | None = None) -> docker.DockerClient:
    """A client of the first endpoint whose engine answers a ping within ``ping_timeout``;
    later calls wait up to ``timeout`` seconds (long for builds and image loads)."""
    import docker
    import requests

    tried = []
    for endpoint in endpoints(environ, home):
        socket = endpoint.socket
        if socket is not None and not socket.exists():
            tried.append(f"{endpoint.source}: {socket}: no such socket")
            continue
        client = None
        try:
            client = _client(endpoint, ping_timeout)
            client.ping()
        except (docker.errors.DockerException, requests.RequestException, OSError) as error:
            if client is not None:
                client.close()
            tried.append(f"{endpoint.source}: {endpoint.url}: {first_line(error)}")
            continue
        client.api.timeout = timeout
        return client
    raise EngineUnavailable("no Docker engine answers; tried:\n"
                            + "".join(f"  {line}\n" for line in tried) + start_hint())


def first_line(error: BaseException) -> str:
    """An SDK error's gist: its first line, bounded (they quote whole HTTP exchanges)."""
    text = str(error).strip().splitlines()
    return (text[0][:300] if text else type(error).__name__)


# The engine can lose the whole output of a short-lived exec: the process runs and exits
# before its stream is attached, more often on a loaded machine (docker/docker-py#2042,
# moby/moby#27289), and the exec reports success with no output. So a command whose output is
# read prints an end marker after it, and a run whose marker did not arrive is run again.
_END_MARKER = "@xedgesim-exec-end@"
_WITH_END_MARKER = f'"$@"; status=$?; printf "\\n{_END_MARKER}\\n"; exit $status'


def read_in_container(container: Any, command: Sequence[str], attempts: int = 5
                      ) -> tuple[int, str]:
    """Exit code and output (stdout and stderr) of ``command`` run in ``container``, none of
    it lost. Only for commands that read: one whose output went missing is run again. Needs a
    POSIX ``sh`` in the container."""
    for _ in range(attempts):
        result = container.exec_run(["sh", "-c", _WITH_END_MARKER, "sh", *command])
        output = result.output.decode(errors="replace")
        body, marker, rest = output.rpartition(f"\n{_END_MARKER}\n")
        if marker and not rest:
            return result.exit_code, body
    raise XedgeError(f"{getattr(container, 'name', container)}: {' '.join(command)}: the "
                     f"engine lost its output {attempts} times in a row")
