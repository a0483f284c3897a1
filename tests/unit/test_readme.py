"""README.md: before its first bare ``xedge`` it says how a bare ``xedge`` is reached (the
venv activated, or ``.venv/bin/xedge``), since the quickstart installs into ``.venv``."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BARE = re.compile(r"(^|[\s`$])xedge ")  # `xedge …`, not `.venv/bin/xedge …`


def test_the_venv_is_activated_before_the_first_bare_xedge() -> None:
    text = README.read_text()
    first_bare = BARE.search(text).start()
    said = text.find(". .venv/bin/activate")
    assert 0 <= said < first_bare, "say once how to activate the venv before a bare `xedge`"
    assert "`.venv/bin/xedge`" in text[:first_bare]
