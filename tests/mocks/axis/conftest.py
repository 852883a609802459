"""Fixtures of the document-axis mock tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Work-around (same as tests/mocks/population): under the editable install
# ``kernel.data`` is a namespace package whose path includes the editable finder's
# hook, and importlib.resources refuses to read the roster unless the project root is
# on sys.path ahead of it. ``kernel/data/__init__.py`` would fix it at the source.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
# The e2e harness module lives beside the tests.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from axis_harness import AxisServer, start_axis, stop_axis  # noqa: E402


@pytest.fixture(scope="module")
def axis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AxisServer]:
    """A plain axis with a 1-second visibility timeout and a 256 KiB body limit."""
    server = start_axis(tmp_path_factory.mktemp("axis"), inbox_visibility_s=1.0, max_body_bytes=256 * 1024)
    yield server
    stop_axis(server.process)
