"""The suite's one rule for a missing tool or service: under ``CI=true`` it is a failure (the
host should have been prepared by ``.ci/run``), elsewhere a skip that says what to install."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Fail under CI, else skip, with ``reason`` (what is missing and how to get it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason=reason)


def require_dask() -> None:
    """dask[distributed] is a dependency (pyproject): its absence is the host's fault."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        missing("dask[distributed] is not installed (pyproject lists it)")
