#!/usr/bin/python3
"""Ansible module: a Mosquitto password file from a list of users, idempotently."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mosquitto_passwd
short_description: Write a Mosquitto password file, rehashing only what changed
description:
  - Writes a password file in the format of C(mosquitto_passwd) (Mosquitto 2.0 C($7$) lines,
    PBKDF2-SHA512 with a 12-byte random salt and 101 iterations).
  - A user whose line in the existing file already verifies against the given password keeps
    that line (and its salt), so the file, and the broker that reads it, change only when a
    user, a password or the file's owner or mode does.
  - Users missing from O(users) are removed.
options:
  path:
    description: The password file.
    type: path
    required: true
  users:
    description: The users, each a dict with C(name) and C(password).
    type: list
    elements: dict
    required: true
  owner:
    description: Numeric uid of the file (the broker's user inside its image).
    type: int
    required: true
  group:
    description: Numeric gid of the file.
    type: int
    required: true
  mode:
    description: The file's mode.
    type: str
    default: "0600"
  iterations:
    description: PBKDF2 iterations for new hashes (Mosquitto's default is 101).
    type: int
    default: 101
"""

EXAMPLES = r"""
- name: Write the broker's password file
  mosquitto_passwd:
    path: /etc/xedgesim/mosquitto/passwd
    users: "{{ xedgesim_mqtt_users }}"
    owner: 100
    group: 101
  no_log: true
"""

RETURN = r"""
users:
  description: The names of the users in the file, in order (never a password).
  type: list
  returned: always
rehashed:
  description: The names of the users whose line was written anew.
  type: list
  returned: always
"""

import base64
import hashlib
import hmac
import os
import secrets
import tempfile

from ansible.module_utils.basic import AnsibleModule

SALT_BYTES = 12


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_line(name: str, password: str, iterations: int) -> str:
    """A new ``name:$7$iterations$salt$hash`` line (what mosquitto_passwd -b writes)."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"{name}:$7${iterations}${b64(salt)}${b64(digest)}"


def verifies(encoded: str, password: str) -> bool:
    """Whether a stored hash ($7$ PBKDF2-SHA512, or the older $6$ salted SHA512) matches."""
    fields = encoded.split("$")
    try:
        if len(fields) == 5 and fields[1] == "7":
            salt = base64.b64decode(fields[3], validate=True)
            expected = base64.b64decode(fields[4], validate=True)
            digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(fields[2]))
            return hmac.compare_digest(digest, expected)
        if len(fields) == 4 and fields[1] == "6":
            salt = base64.b64decode(fields[2], validate=True)
            expected = base64.b64decode(fields[3], validate=True)
            digest = hashlib.sha512(password.encode() + salt).digest()
            return hmac.compare_digest(digest, expected)
    except (ValueError, TypeError):
        return False
    return False


def existing_lines(path: str) -> tuple[str | None, dict[str, str]]:
    """The file's text (None when absent) and its user -> encoded hash."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, {}
    hashes = {}
    for line in text.splitlines():
        name, sep, encoded = line.partition(":")
        if sep and name:
            hashes[name] = encoded
    return text, hashes


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {"type": "list", "elements": "dict", "required": True, "no_log": True},
            "owner": {"type": "int", "required": True},
            "group": {"type": "int", "required": True},
            "mode": {"type": "str", "default": "0600"},
            "iterations": {"type": "int", "default": 101},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    mode = int(module.params["mode"], 8)
    names = []
    for index, user in enumerate(module.params["users"], start=1):
        name, password = str(user.get("name") or ""), str(user.get("password") or "")
        if not name or not password:
            module.fail_json(msg=f"user #{index} needs a name and a password")
        if ":" in name or any(c.isspace() for c in name):
            module.fail_json(msg=f"user name {name!r} may not hold a colon or white space")
        if "\n" in password or "\r" in password:
            module.fail_json(msg=f"the password of {name!r} may not hold a line break")
        if name in names:
            module.fail_json(msg=f"user {name!r} is listed twice")
        names.append(name)

    text, hashes = existing_lines(path)
    lines, rehashed = [], []
    for user in module.params["users"]:
        name, password = str(user["name"]), str(user["password"])
        encoded = hashes.get(name)
        if encoded is not None and verifies(encoded, password):
            lines.append(f"{name}:{encoded}")
        else:
            lines.append(hash_line(name, password, module.params["iterations"]))
            rehashed.append(name)
    wanted = "".join(line + "\n" for line in lines)

    content_changed = text != wanted
    attributes_changed = False
    if not content_changed:
        info = os.stat(path)
        attributes_changed = (info.st_uid, info.st_gid, info.st_mode & 0o7777) != (
            module.params["owner"], module.params["group"], mode)
    changed = content_changed or attributes_changed
    result = {"changed": changed, "users": names, "rehashed": rehashed if content_changed else []}
    if not changed or module.check_mode:
        module.exit_json(**result)

    if content_changed:
        directory = os.path.dirname(path) or "."
        handle, temporary = tempfile.mkstemp(prefix=".passwd.", dir=directory)
        try:
            os.fchmod(handle, mode)
            os.fchown(handle, module.params["owner"], module.params["group"])
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(wanted)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except OSError as error:
            if os.path.exists(temporary):
                os.unlink(temporary)
            module.fail_json(msg=f"cannot write {path}: {error}")
    else:
        os.chown(path, module.params["owner"], module.params["group"])
        os.chmod(path, mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
