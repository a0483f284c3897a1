"""xedgesim/deploy/certificates.py: a staging fleet's CA, and fleets refused without TLS."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest

from xedgesim.deploy.certificates import (
    hosts_without_tls,
    make_fleet_pki,
    require_tls,
)
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.inventory import InventoryHost


def handshake(server_tls: tuple[Path, Path], client_ca: Path, server_name: str) -> None:
    """A TLS handshake on loopback: a server with the host's certificate, a client that
    trusts ``client_ca`` and expects ``server_name``; raises ssl.SSLError when refused."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*server_tls)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(client_ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                client_context.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(b"x")
    finally:
        thread.join(5)
        listener.close()


def test_each_host_gets_a_certificate_of_the_fleet_ca(tmp_path: Path) -> None:
    made = make_fleet_pki(tmp_path / "tls", {"edge-1": [], "edge-2": ["10.0.0.2"]})
    assert set(made) == {"edge-1", "edge-2"}
    one = made["edge-1"]
    for name in ("127.0.0.1", "localhost", "edge-1"):
        handshake((one.cert, one.key), one.ca, name)
    handshake((made["edge-2"].cert, made["edge-2"].key), one.ca, "10.0.0.2")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake((one.cert, one.key), one.ca, "edge-2")  # another host's name


def test_a_client_with_another_ca_is_refused(tmp_path: Path) -> None:
    ours = make_fleet_pki(tmp_path / "ours", {"edge-1": []})["edge-1"]
    theirs = make_fleet_pki(tmp_path / "theirs", {"edge-1": []})["edge-1"]
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake((ours.cert, ours.key), theirs.ca, "127.0.0.1")


def test_keys_are_private_and_never_overwritten(tmp_path: Path) -> None:
    made = make_fleet_pki(tmp_path / "tls", {"edge-1": []})["edge-1"]
    directory = tmp_path / "tls"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in made.key.read_bytes()
    assert sorted(p.name for p in directory.iterdir()) == ["ca.crt", "edge-1.crt", "edge-1.key"]
    assert b"PRIVATE" not in made.cert.read_bytes() + made.ca.read_bytes()
    with pytest.raises(FileExistsError):
        make_fleet_pki(directory, {"edge-1": []})


def test_a_fleet_without_certificates_is_refused_unless_insecure() -> None:
    hosts = [InventoryHost("pi-1", {"mqtt_tls_cert": "a.crt", "mqtt_tls_key": "a.key"}),
             InventoryHost("pi-2", {"mqtt_tls_cert": "b.crt"}), InventoryHost("pi-3", {})]
    assert hosts_without_tls(hosts) == ["pi-2", "pi-3"]
    with pytest.raises(UsageError, match=r"pi-2, pi-3.*--insecure-plaintext"):
        require_tls(hosts, insecure_plaintext=False, inventory=Path("inv"))
    assert require_tls(hosts, insecure_plaintext=True, inventory=Path("inv")) == ["pi-2", "pi-3"]
    assert require_tls(hosts[:1], insecure_plaintext=False, inventory=Path("inv")) == []
