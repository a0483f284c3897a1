"""Which Debian mirror debootstrap uses: the host's own apt configuration when it names one for
the suite (it is known to be reachable from this machine), otherwise deb.debian.org."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_DIR = Path("/etc/apt")


def _deb822_entries(text: str) -> list[tuple[str, list[str]]]:
    """(uri, suites) for each ``Types: deb`` stanza of a ``.sources`` file."""
    entries: list[tuple[str, list[str]]] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = fields.get("suites", "").split()
        entries.extend((uri, suites) for uri in fields.get("uris", "").split())
    return entries


def _one_line_entries(text: str) -> list[tuple[str, list[str]]]:
    """(uri, [suite]) for each ``deb URI SUITE ...`` line of a ``.list`` file."""
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            entries.append((words[0], [words[1]]))
    return entries


def find_mirror(suite: str, apt_dir: Path = APT_DIR) -> str:
    """The first apt source that serves ``suite`` itself (not -updates or -security)."""
    candidates: list[tuple[str, list[str]]] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        candidates += _one_line_entries(main_list.read_text(encoding="utf-8", errors="replace"))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
            if path.suffix == ".sources":
                candidates += _deb822_entries(text)
            elif path.suffix == ".list":
                candidates += _one_line_entries(text)
    for uri, suites in candidates:
        if suite in suites and uri.startswith(("http://", "https://")):
            return uri.rstrip("/")
    return DEFAULT_MIRROR
