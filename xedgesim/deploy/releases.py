"""``xedge releases``: what the manifest store holds, so an operator can pick ``--release ID``
without opening JSON files. One row per stored manifest, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xedgesim.deploy import manifest

SHOWN_HOSTS = 3  # a fleet of 200 is a count, not a list


@dataclass(frozen=True)
class StoredRelease:
    """One manifest of the store, as the listing shows it."""

    id: str
    created: str
    images: str  # "amd64 broker 1a2b3c4d5e6f, gateway …"
    hosts: str
    verdict: str
    parity: str = "-"  # the newest comparison per scenario: "pass fleet_parity.yaml", …


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else empty: a hand-edited manifest lists, never crashes."""
    return value if isinstance(value, Mapping) else {}


def count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def short_id(image_id: str) -> str:
    """The 12 hex digits people recognise (``docker images`` shows the same)."""
    return image_id.removeprefix("sha256:")[:12]


def describe_images(images: Mapping[str, Any]) -> str:
    return "; ".join(
        f"{arch} " + ", ".join(f"{name} {short_id(str(mapping(entry).get('id', '?')))}"
                               for name, entry in sorted(mapping(by_name).items()))
        for arch, by_name in sorted(images.items())
    )


def describe_hosts(hosts: list[str]) -> str:
    if len(hosts) <= SHOWN_HOSTS:
        return ", ".join(hosts) or "-"
    return f"{', '.join(hosts[:SHOWN_HOSTS])}, … ({len(hosts)})"


def verdict(verification: Mapping[str, Any]) -> str:
    tests = count(verification.get("tests"))
    bad = count(verification.get("failures")) + count(verification.get("errors"))
    if not verification.get("passed"):
        return f"FAILED ({bad} of {tests} tests)"
    idempotent = {True: ", idempotent", False: ", NOT idempotent"}.get(
        verification.get("idempotent"), "")
    return f"passed ({tests} tests{idempotent})"


def describe_parity(records: Any) -> str:
    """The newest verdict per scenario (by hash) with the scenario's file name; ``-`` for a
    release staged without a parity run."""
    newest: dict[str, str] = {}
    for entry in records if isinstance(records, list) else ():
        entry = mapping(entry)
        scenario = mapping(entry.get("scenario"))
        name = Path(str(scenario.get("path") or "?")).name
        newest[str(scenario.get("sha256"))] = f"{entry.get('verdict', '?')} {name}"
    return ", ".join(newest.values()) or "-"


def listing(store: Path) -> list[StoredRelease]:
    """The store's manifests, newest first (unreadable files are skipped, as deploy does)."""
    rows = []
    for document in manifest.load_store(store):
        verification = mapping(document.get("verification"))
        hosts = verification.get("hosts")
        rows.append(StoredRelease(
            id=str(document.get("release", "?")),
            created=str(document.get("created", "?")),
            images=describe_images(mapping(document.get("images"))),
            hosts=describe_hosts([str(host) for host in hosts] if isinstance(hosts, list)
                                 else []),
            verdict=verdict(verification),
            parity=describe_parity(document.get("parity")),
        ))
    return rows


def format_listing(rows: list[StoredRelease], store: Path) -> str:
    """A fixed-width table and the store it came from; an empty store says how to fill it."""
    if not rows:
        return f"no staged release in {store} (a passing `xedge stage` records one)"
    table = [("RELEASE", "CREATED (UTC)", "VERIFIED", "PARITY", "HOSTS", "IMAGES")] + [
        (row.id, row.created, row.verdict, row.parity, row.hosts, row.images) for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
             .rstrip() for line in table]
    return "\n".join([*lines, "", f"store: {store}"])
