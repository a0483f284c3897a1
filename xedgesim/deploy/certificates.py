"""A throwaway certificate authority for one staging fleet, and the check that a fleet has TLS.

Production brokers listen for the LAN on TLS only (8883); their server certificates come from a
per-fleet CA. For a real fleet the site brings that CA and the certificates (inventory variables
``mqtt_tls_cert``, ``mqtt_tls_key``, ``mqtt_tls_ca``, paths on the controller). ``xedge stage``
makes its own with the ``cryptography`` library (no hand-rolled crypto): a CA that lives as
long as the stage run, and one server certificate per host naming every address a client uses
to reach that broker (the host's name, ``localhost`` and ``127.0.0.1``: the staging hosts
publish the broker on loopback, and the on-device probe connects on loopback too).

The brokers' private keys are written 0600 in a 0700 directory of the run and never printed: the
state file, the manifest and the logs name the directory at most. The CA's key is never written
at all: once the fleet's certificates are signed it is dropped, so nothing can sign another.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xedgesim.deploy.errors import UsageError

DIR_NAME = "tls"
CA_CERT = "ca.crt"
# The inventory variables that turn a broker's TLS listener on (paths on the controller).
CERT_VAR = "mqtt_tls_cert"
KEY_VAR = "mqtt_tls_key"
CA_VAR = "mqtt_tls_ca"
# The TLS listener's port on the device (the mqtt_broker role's mqtt_broker_tls_port).
TLS_PORT = 8883
VALID_DAYS = 30  # a staging fleet lives for minutes; its CA expires soon after
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class HostTls:
    """One broker's files: its certificate and key, and the CA that signed it."""

    cert: Path
    key: Path
    ca: Path

    def inventory_vars(self) -> dict[str, str]:
        return {CERT_VAR: str(self.cert), KEY_VAR: str(self.key), CA_VAR: str(self.ca)}


def make_fleet_pki(directory: Path, hosts: Mapping[str, Sequence[str]]) -> dict[str, HostTls]:
    """A new CA in ``directory`` and a server certificate per host, named by ``hosts``
    (host -> its extra DNS names or IP addresses, on top of the host's name and loopback)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca_cert = _new_ca(f"xedgesim staging CA {directory.parent.name}", now)
    ca_name = ca_cert.subject
    ca_path = _write(directory / CA_CERT, _pem_cert(ca_cert), private=False)
    made = {}
    for host, extra in hosts.items():
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, host)])
        cert = (
            _builder(subject, ca_name, key.public_key(), now)
            .add_extension(x509.SubjectAlternativeName(alt_names(host, extra)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        made[host] = HostTls(
            cert=_write(directory / f"{host}.crt", _pem_cert(cert), private=False),
            key=_write(directory / f"{host}.key", _pem_key(key), private=True),
            ca=ca_path,
        )
    return made


def _new_ca(common_name: str, now: datetime.datetime) -> tuple[Any, Any]:
    """A CA key and its self-signed certificate (may sign server certificates, nothing else)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    cert = (
        _builder(name, name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def stranger_ca_pem() -> str:
    """The certificate of a CA made on the spot and thrown away (its key is never kept): what
    a client trusts that must NOT get through to the fleet's brokers."""
    _, cert = _new_ca("xedgesim stranger CA", datetime.datetime.now(datetime.UTC))
    return _pem_cert(cert).decode()


def alt_names(host: str, extra: Iterable[str] = ()) -> list[Any]:
    """The subject alternative names of a host's certificate: its name, its extra names,
    and loopback; an IP address as an IP entry (clients match those, not DNS entries)."""
    from cryptography import x509

    names: list[Any] = []
    for name in dict.fromkeys((host, *extra, *LOOPBACK_NAMES)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def _builder(subject: Any, issuer: Any, public_key: Any, now: datetime.datetime) -> Any:
    from cryptography import x509

    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def _pem_cert(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def _write(path: Path, data: bytes, private: bool) -> Path:
    """Create ``path`` (never over an existing file); a key is 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path.resolve()


def hosts_without_tls(hosts: Iterable[Any]) -> list[str]:
    """The hosts (``InventoryHost``) whose inventory gives their broker no certificate and
    key: their broker would take passwords in clear from the LAN."""
    return [host.name for host in hosts
            if not (str(host.vars.get(CERT_VAR) or "") and str(host.vars.get(KEY_VAR) or ""))]


def require_tls(hosts: Iterable[Any], insecure_plaintext: bool, inventory: Path,
                override: str | None = "--insecure-plaintext") -> list[str]:
    """Refuse a fleet without broker certificates unless the operator said ``override``
    (None: nothing overrides); return the hosts that will run in plain text."""
    plain = hosts_without_tls(hosts)
    if plain and not (insecure_plaintext and override):
        raise UsageError(
            f"inventory {inventory}: no TLS certificate for the broker of "
            f"{', '.join(plain)}: set {CERT_VAR}, {KEY_VAR} and {CA_VAR} (paths on this "
            "machine; see docs/stage-and-deploy.md)"
            + (f", or pass {override} to send MQTT passwords over the network in clear"
               if override else ""))
    return plain


INSECURE_BANNER = (
    "INSECURE PLAINTEXT: the brokers of {hosts} take MQTT logins on port 1883 from the "
    "network WITHOUT TLS: passwords cross the network in clear (--insecure-plaintext)")
