"""The staging fleet's SSH identity and host keys, kept inside the run directory.

The key pair is made in-process (``cryptography``, which ansible-core already needs) rather
than by ``ssh-keygen``, so no other program sees it and its file is created 0600 — never
briefly readable. It lives in ``<run>/ssh/`` (0700) and nowhere else: it is not added to an
agent, not copied, not printed. Host keys of the simulated Pis are collected when they start
into ``<run>/ssh/known_hosts``, so staging runs with host key checking on, as production does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PRIVATE_NAME = "id_ed25519"


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path

    @property
    def public_line(self) -> str:
        """The ``authorized_keys`` line (public: safe to hand to a container)."""
        return self.public.read_text().strip()


def generate(directory: Path, comment: str = "xedgesim-staging") -> KeyPair:
    """A new ed25519 key pair in ``directory`` (made 0700); the private key is 0600."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    key = Ed25519PrivateKey.generate()
    private_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public_bytes = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = directory / PRIVATE_NAME
    write_private(private, private_bytes)
    public = directory / f"{PRIVATE_NAME}.pub"
    public.write_bytes(public_bytes + f" {comment}\n".encode())
    return KeyPair(private.resolve(), public.resolve())


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file that is 0600 from the moment it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def known_hosts_line(host: str, port: int, host_key: str) -> str:
    """A known_hosts entry; OpenSSH writes ``[host]:port`` for ports other than 22."""
    name = host if port == 22 else f"[{host}]:{port}"
    key_type, key_data = host_key.split()[:2]
    return f"{name} {key_type} {key_data}"


def write_known_hosts(path: Path, entries: Iterable[tuple[str, int, str]]) -> Path:
    """``known_hosts`` for (host, port, public host key) entries; replaces the file."""
    text = "".join(known_hosts_line(h, p, k) + "\n" for h, p, k in entries)
    path.write_text(text)
    return path.resolve()
