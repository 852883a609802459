"""Writing what a command produced once its work is done — a run's report, the gate's
verdict, a security scorecard, a comparison.

A file that cannot be written then (the disk filled during the run, a file-size limit, a
file system remounted read-only) is one ``ERROR:`` line naming it and why, exit 70 —
never a traceback, which says "a bug in dientap". The records already on disk stay, and
the line says how to write the rest again once there is room::

    ERROR: runs/20261121-093000-ab12/report.html: cannot write the report: no space left on device;
    the run's records are kept: once there is room, run `dientap report runs/20261121-093000-ab12`
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from kernel.errors import OutputNotWritten

__all__ = ["full_disk_note", "os_reason", "shown_path", "writing"]


def shown_path(path: Path | str) -> str:
    """A path as an ERROR line quotes it: whole, unless it is too long to read (or to be a path at all)."""
    text = str(path)
    return repr(text) if len(text) <= 200 else f"{text[:60]!r}… ({len(text):,} characters)"


def os_reason(error: OSError) -> str:
    """Why the system refused, in the words of its error (``no space left on device``), without
    the path ``str(error)`` repeats — which may be thousands of characters."""
    return (error.strerror or str(error)).lower()


@contextlib.contextmanager
def writing(path: Path, what: str, *, again: str = "") -> Iterator[None]:
    """Within the block, an ``OSError`` (the write of ``what`` at ``path`` failed) becomes an
    :class:`OutputNotWritten` naming the file, why, and ``again``: how to write it later."""
    try:
        yield
    except OSError as exc:
        hint = f"; {again}" if again else ""
        raise OutputNotWritten(f"{shown_path(path)}: cannot write {what}: {os_reason(exc)}{hint}") from None


#: Less free space than this where a run writes is a full disk for :func:`full_disk_note`: the
#: records of a run's end (summary, histograms, report) take far more.
FULL_BELOW_BYTES = 1 << 20


def full_disk_note(path: Path) -> str:
    """``"; the disk holding PATH is full (N bytes free)"`` when it is, else ``""``: said on the
    line of a run that wrote no summary, where the cause (Locust's own failed writes) is only
    in logs the full disk may not have kept."""
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return ""
    return f"; the disk holding {shown_path(path)} is full ({free:,} bytes free)" if free < FULL_BELOW_BYTES else ""
