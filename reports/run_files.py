"""The files of a run directory: atomic writes, validated loads, the ``runs/latest`` link.

Run directory (``runs/<run-id>/``)::

    journal.json      Journal   provenance, timeline, per-bucket latency series,
                                optional drill result and security scorecard
                                (:mod:`reports.journal`)
    summary.json      Summary   whole-run figures (issue #3): endpoints, provinces,
                                communes, generator health, abort (:mod:`reports.summary`)
    histograms/latency.hdr      encoded HDR histograms (written by scenarios;
                                :mod:`kernel.latency_records`)
    load.json         LoadRecord  per-key failures, per-commune counts, generator health,
                                abort (written by scenarios; :mod:`reports.load_record`)
                                — summary.json is built from these two records alone
                                (:mod:`reports.summary_build`)
    gate.json         (reports.gate.GateResult, written by ``dientap gate``)
    report.html                 rendered by ``reports.html.render_report``
    runs/latest   →  newest run directory (:func:`update_latest_symlink`)

Writing is atomic and durable (:mod:`kernel.atomic_file`: a temporary file flushed to the disk,
then ``os.replace``), so a reader never sees half a file, after a crash neither.
Loading validates the whole record; every problem becomes a :class:`ConfigError` naming
the file and the field.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from kernel.atomic_file import atomic_write_text
from kernel.configfile import field_path
from kernel.errors import ConfigError, ConfigProblem
from reports.journal import Journal
from reports.summary import Summary

__all__ = [
    "JOURNAL_FILE",
    "MAX_RECORD_BYTES",
    "SUMMARY_FILE",
    "atomic_write_text",
    "check_record_file",
    "check_same_run",
    "write_journal",
    "write_summary",
    "write_run_dir",
    "load_journal",
    "load_journal_of",
    "load_record",
    "load_summary",
    "read_record_text",
    "record_present",
    "update_latest_symlink",
]

JOURNAL_FILE = "journal.json"
SUMMARY_FILE = "summary.json"

M = TypeVar("M", bound=BaseModel)



def write_journal(run_dir: str | Path, journal: Journal) -> Path:
    """Write ``run_dir/journal.json`` atomically; returns its path."""
    return atomic_write_text(Path(run_dir) / JOURNAL_FILE, journal.model_dump_json(indent=1))


def write_summary(run_dir: str | Path, summary: Summary) -> Path:
    """Write ``run_dir/summary.json`` atomically; returns its path."""
    return atomic_write_text(Path(run_dir) / SUMMARY_FILE, summary.model_dump_json(indent=1))


def write_run_dir(run_dir: str | Path, journal: Journal, summary: Summary | None = None) -> Path:
    """Write the journal (and the summary, when given) into ``run_dir``; returns ``run_dir``."""
    run_dir = Path(run_dir)
    write_journal(run_dir, journal)
    if summary is not None:
        write_summary(run_dir, summary)
    return run_dir


#: The largest JSON record read. Not a config file's 10 MiB, which a run longer than about 75
#: minutes passed: the journal keeps one sample per endpoint and second (≈ 158 bytes), 8.5 MB
#: an hour for 15 endpoints, ≈ 200 MB a day. The bound is there for a file that is no record.
MAX_RECORD_BYTES = 256 * 1024 * 1024


def _refusal(path: Path, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(str(path), None, "", message)])


def record_present(path: Path) -> bool:
    """Whether anything is at ``path`` — a dangling link too, so that it is refused by name
    rather than taken for a record the run did not write."""
    return path.exists() or path.is_symlink()


def check_record_file(path: str | Path, expected: str, max_bytes: int = MAX_RECORD_BYTES) -> None:
    """Refuse, without opening it, what is at ``path`` unless it is a regular file of at most
    ``max_bytes``: a ConfigError naming it and what was ``expected`` (e.g. "the run's JSON
    record"). A device or a pipe is never opened: /dev/zero never ends, a pipe may never answer."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _refusal(path, "file not found") from None
    except OSError as exc:
        raise _refusal(path, f"cannot read: {(exc.strerror or str(exc)).lower()}") from None
    if stat.S_ISDIR(info.st_mode):
        raise _refusal(path, f"is a directory; expected {expected}")
    if not stat.S_ISREG(info.st_mode):
        raise _refusal(path, f"not a regular file (a device or a pipe); expected {expected}")
    if info.st_size > max_bytes:
        raise _refusal(path, f"is {info.st_size:,} bytes; expected {expected}, at most {max_bytes:,} bytes")


def read_record_text(path: str | Path, expected: str, max_bytes: int = MAX_RECORD_BYTES) -> str:
    """The UTF-8 text of the record file at ``path``, once :func:`check_record_file` passes;
    a file that cannot be read is a ConfigError naming it."""
    path = Path(path)
    check_record_file(path, expected, max_bytes)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _refusal(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise _refusal(path, f"cannot read: {exc}") from None
    except OSError as exc:
        # strerror, not str(exc): the latter repeats the path, which may be thousands of characters.
        raise _refusal(path, f"cannot read: {(exc.strerror or str(exc)).lower()}") from None


def check_same_run(record: Path, field: str, found: str, reference: Path, run_id: str) -> None:
    """Refuse ``record`` when its ``field`` names another run than ``reference`` (which holds
    ``run_id``): a report, a verdict or a comparison from two runs' records would describe
    neither of them."""
    if found != run_id:
        raise ConfigError([ConfigProblem(str(record), None, field, (
            f"{found!r} is another run's: {reference.name} beside it is of run {run_id!r}; a run directory "
            "holds the records of one run (was a file copied in from another?)"))])


def load_record(model: type[M], path: str | Path) -> M:
    """Read one JSON record file; problems become a ConfigError naming file and field."""
    path = Path(path)
    text = read_record_text(path, f"the run's {path.name} (a JSON record dientap writes)")
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:  # a corrupt file can yield thousands; the first say enough
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            if err["loc"] == ("version",) and err["type"] == "literal_error":
                message = f"unsupported version {err['input']!r}; this dientap reads version 1"
            problems.append(ConfigProblem(str(path), None, field_path(err["loc"]), message))
        raise ConfigError(problems) from None


def load_journal(run_dir: str | Path) -> Journal:
    """Load ``run_dir/journal.json`` (or the ``.json`` file itself when given one)."""
    path = Path(run_dir)
    return load_record(Journal, path if path.suffix == ".json" else path / JOURNAL_FILE)


def load_journal_of(run_dir: str | Path, summary: Summary) -> Journal:
    """Load ``run_dir/journal.json`` and check it is the journal of ``summary``'s run."""
    run_dir = Path(run_dir)
    journal = load_journal(run_dir)
    check_same_run(run_dir / JOURNAL_FILE, "provenance.run_id", journal.provenance.run_id, run_dir / SUMMARY_FILE,
                   summary.run_id)
    return journal


def load_summary(run_dir: str | Path) -> Summary:
    """Load ``run_dir/summary.json`` (or the ``.json`` file itself when given one)."""
    path = Path(run_dir)
    return load_record(Summary, path if path.suffix == ".json" else path / SUMMARY_FILE)


def update_latest_symlink(runs_dir: str | Path, run_dir: str | Path) -> Path:
    """Point ``runs_dir/latest`` at ``run_dir`` (relative link, replaced atomically)."""
    runs_dir = Path(runs_dir)
    run_dir = Path(run_dir)
    target = os.path.relpath(run_dir.resolve(), runs_dir.resolve())
    link = runs_dir / "latest"
    tmp = runs_dir / f".latest.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)  # not left beside the runs (a folder named latest, a full disk)
        raise
    return link
