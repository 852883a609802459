"""Fixtures for the scenarios tests (helpers live in ``scn_support.py``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # make scn_support importable from tests

from scn_support import SupportServer, start_support_server


@pytest.fixture
def support_server() -> Iterator[SupportServer]:
    """A fresh support server per test (connection counts start at zero)."""
    server = start_support_server()
    try:
        yield server
    finally:
        server.process.kill()
        server.process.wait(timeout=10)
