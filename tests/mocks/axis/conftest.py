"""Fixtures of the document-axis mock tests."""

from __future__ import annotations

import sys
from pathlib import Path

# Work-around (same as tests/mocks/population): under the editable install
# ``dientap.data`` is a namespace package whose path includes the editable finder's
# hook, and importlib.resources refuses to read the roster unless the project root is
# on sys.path ahead of it. ``dientap/data/__init__.py`` would fix it at the source.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
