"""The ``docker:`` options of a container node, checked at load like every other key.

They used to be stored raw and looked at only when the container started, so ``timeout: banana``
or a list for ``environment`` passed ``xedge validate`` and failed minutes into a run (or, for
keys no node reads, never). ``OPTIONS`` says which keys each node type and mode reads; the
result keeps the shape the container nodes consume (``xedgesim/docker/``): a dict with the same
keys, ``timeout`` as written (a checked duration), ``environment`` as text to text.
"""

from __future__ import annotations

import re

from xedgesim.scenario import limits
from xedgesim.scenario.reader import Reader, did_you_mean, label
from xedgesim.scenario.yaml_tree import YMap, YNode, YScalar, describe

MODES = ("protocol", "service")
DEFAULT_MODE = "protocol"
OPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("gateway", "protocol"): ("mode", "timeout", "environment"),
    ("gateway", "service"): ("mode",),
    ("broker", ""): (),  # a broker has one mode, and reads no options
}
MAX_TIMEOUT_NS = 3600 * 1_000_000_000
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _modes(node_type: str) -> tuple[list[str], str]:
    """The modes of a node type and its default one ('' for a type with a single mode)."""
    modes = sorted(mode for kind, mode in OPTIONS if kind == node_type)
    return modes, DEFAULT_MODE if DEFAULT_MODE in modes else (modes[0] if modes else "")


def default_options(node_type: str) -> tuple[str, ...]:
    """The keys a node of ``node_type`` reads in its default mode (none if it cannot run in
    docker)."""
    return OPTIONS.get((node_type, _modes(node_type)[1]), ())


def read_docker_options(
    reader: Reader, ymap: YMap, node_type: str, context: str
) -> dict[str, object]:
    """The checked options of one node, or ``{}`` after reporting what is wrong with them."""
    what = label("docker", context)
    before = len(reader.problems)
    modes, mode = _modes(node_type)
    mode_node = ymap.get("mode")
    if mode_node is not None and modes != [""]:
        mode = reader.choice(mode_node, f"'mode' in {what}", modes) or mode
    allowed = OPTIONS.get((node_type, mode), ())
    for entry in ymap:
        key = entry.key.value
        if key in allowed:
            continue
        if isinstance(key, str) and any(key in keys for keys in OPTIONS.values()):
            users = [f"{kind} nodes in mode {m}" if m else f"{kind} nodes"
                     for (kind, m), keys in OPTIONS.items() if key in keys]
            where = f"in mode {mode}" if mode else f"by a {node_type} node"
            reader.report(entry.key, f"'{key}' in {what} is not read {where}",
                          f"only {' and '.join(users)} read it")
        else:
            hint = did_you_mean(key, allowed) if isinstance(key, str) else None
            reader.report(entry.key, f"unknown key {entry.key.text!r} in {what}",
                          hint or f"known here: {', '.join(allowed) or 'none'}")
    options: dict[str, object] = {}
    if "mode" in allowed and mode_node is not None:
        options["mode"] = mode
    timeout_node = ymap.get("timeout")
    if "timeout" in allowed and timeout_node is not None:
        timeout = reader.duration(timeout_node, f"'timeout' in {what}", positive=True)
        if timeout is not None and timeout > MAX_TIMEOUT_NS:
            reader.report(timeout_node, f"'timeout' in {what} must be at most 1h, "
                          f"found {describe(timeout_node)}")
        if timeout is not None and isinstance(timeout_node, YScalar):
            options["timeout"] = timeout_node.value  # as written: the node parses it again
    environment_node = ymap.get("environment")
    if "environment" in allowed and environment_node is not None:
        environment = _environment(reader, environment_node, f"'environment' in {what}")
        if environment is not None:
            options["environment"] = environment
    return options if len(reader.problems) == before else {}


def _environment(reader: Reader, node: YNode, what: str) -> dict[str, str] | None:
    """Variable names to text; numbers are written as text, anything else is refused."""
    ymap = reader.mapping(node, what, "{LOG_LEVEL: debug}")
    if ymap is None:
        return None
    if len(ymap.entries) > limits.MAX_DOCKER_ENTRIES:
        reader.report(ymap, f"{what} has more than {limits.MAX_DOCKER_ENTRIES:,} variables",
                      "see 'Limits' in docs/scenario.md")
        return None
    result: dict[str, str] = {}
    ok = True
    for entry in ymap:
        name = entry.key.value
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            reader.report(entry.key, f"{what}: {entry.key.text!r} is not a variable name",
                          "letters, digits and '_', not starting with a digit")
            ok = False
            continue
        value = entry.value
        scalar = value.value if isinstance(value, YScalar) else None
        if isinstance(scalar, bool) or not isinstance(scalar, (str, int, float)):
            reader.report(value, f"{what}: '{name}' must be text or a number, "
                          f"found {describe(value)}",
                          "quote it to pass it as text, e.g. 'true'")
            ok = False
            continue
        text = value.text if isinstance(value, YScalar) else ""
        size = len(text.encode("utf-8", "surrogatepass"))
        if "\x00" in text or size > limits.MAX_DOCKER_TEXT_BYTES:
            reader.report(value, f"{what}: '{name}' must be at most "
                          f"{limits.MAX_DOCKER_TEXT_BYTES:,} bytes of text without NUL")
            ok = False
            continue
        result[name] = text
    return result if ok else None
