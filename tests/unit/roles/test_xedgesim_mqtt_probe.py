"""roles/health_gate/library/xedgesim_mqtt_probe.py over TLS: the on-device probe verifies the
broker's certificate (a loopback TLS server that answers CONNECT with a CONNACK stands in for
the broker)."""

from __future__ import annotations

import importlib.util
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from xedgesim.deploy.certificates import HostTls, make_fleet_pki

MODULE = Path(__file__).resolve().parents[3] / "roles/health_gate/library/xedgesim_mqtt_probe.py"


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("xedgesim_mqtt_probe", MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HostTls]:
    base = tmp_path_factory.mktemp("pki")
    return {"fleet": make_fleet_pki(base / "fleet", {"edge-1": []})["edge-1"],
            "other": make_fleet_pki(base / "other", {"edge-1": []})["edge-1"]}


@pytest.fixture
def broker(pki: dict[str, HostTls]) -> Iterator[int]:
    """A TLS listener with edge-1's certificate that refuses every CONNECT (code 5)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["fleet"].cert, pki["fleet"].key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.settimeout(5)
                    if tls.recv(1024):
                        tls.sendall(b"\x20\x02\x00\x05")
                        tls.recv(16)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def params(ca: Path, **more: object) -> dict[str, object]:
    return {"tls": True, "tls_ca": str(ca), **more}


def test_the_probe_verifies_the_broker_against_the_fleet_ca(probe: ModuleType, broker: int,
                                                             pki: dict[str, HostTls]) -> None:
    context = probe.tls_context(params(pki["fleet"].ca))
    assert probe.anonymous_refused("127.0.0.1", broker, time.monotonic() + 10, context)


def test_the_probe_refuses_a_broker_another_ca_signed(probe: ModuleType, broker: int,
                                                      pki: dict[str, HostTls]) -> None:
    context = probe.tls_context(params(pki["other"].ca))
    with pytest.raises(probe.ProbeError, match=r"no TLS with the broker.*CERTIFICATE_VERIFY"):
        probe.Client("127.0.0.1", broker, time.monotonic() + 10, context)


def test_without_tls_the_probe_speaks_plain_mqtt(probe: ModuleType) -> None:
    assert probe.tls_context({"tls": False, "tls_ca": None}) is None
