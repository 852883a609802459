"""Writing a file whole or not at all, and durably: the records a run leaves and what drills
reconcile (summaries, journals, verdicts, ledgers).

The text goes to a temporary file beside the target, is flushed to the disk, and is renamed
over the target; the folder is flushed too, so the rename outlives a crash. A disk that fills
or a process killed mid-write leaves the file written before, never a cut-off one no reader
can parse. The file gets the mode any file the user writes gets (0644 under the usual umask
022), not the temporary file's private 0600.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text"]


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


# Read once, at import: os.umask can only be read by setting it, which is not thread-safe.
_FILE_MODE = 0o666 & ~_umask()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all (see the module docstring); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself
    finally:
        os.close(folder)
    return path
