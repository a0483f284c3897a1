"""xedgesim/deploy/sshkeys.py and secrets.py: private material is 0600 from birth, in a
0700 directory, and is never shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from xedgesim.deploy import secrets, sshkeys
from xedgesim.deploy.errors import DeployError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_pair_is_private_and_openssh_formatted(tmp_path: Path) -> None:
    keys = sshkeys.generate(tmp_path / "ssh")
    assert mode(tmp_path / "ssh") == 0o700 and mode(keys.private) == 0o600
    assert keys.private.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert keys.public_line.startswith("ssh-ed25519 ")
    with pytest.raises(FileExistsError):  # never overwritten
        sshkeys.generate(tmp_path / "ssh")


def test_known_hosts_uses_bracketed_ports(tmp_path: Path) -> None:
    path = sshkeys.write_known_hosts(tmp_path / "kh", [
        ("127.0.0.1", 32001, "ssh-ed25519 AAAAkey root@x"), ("pi", 22, "ssh-ed25519 BBBB")])
    assert path.read_text() == ("[127.0.0.1]:32001 ssh-ed25519 AAAAkey\n"
                                "pi ssh-ed25519 BBBB\n")


def test_generated_users_are_private_and_distinct(tmp_path: Path) -> None:
    path = secrets.generate(tmp_path / "secrets")
    assert mode(path) == 0o600 and mode(tmp_path / "secrets") == 0o700
    users = secrets.load_users(path)
    assert [u.name for u in users] == ["gateway", "probe"]
    assert len({u.password for u in users}) == 2 and all(len(u.password) >= 32 for u in users)
    assert yaml.safe_load(path.read_text())[secrets.VARIABLE][0]["name"] == "gateway"
    assert users[1].password not in repr(users)  # a user printed by accident shows nothing


def test_find_names_users_but_never_passwords() -> None:
    users = [secrets.MqttUser("gateway", "pw-1")]
    with pytest.raises(DeployError) as missing:
        secrets.find(users, "probe")
    assert "found: gateway" in str(missing.value) and "pw-1" not in str(missing.value)


def test_malformed_users_are_refused() -> None:
    with pytest.raises(DeployError, match="missing or not a list"):
        secrets.users_from({"name": "x"}, "here")
    with pytest.raises(DeployError, match="needs a name and a password"):
        secrets.users_from([{"name": "x"}], "here")
