"""A run as ``dientap compare`` and the gate's baseline read it: its records, checked whole.

A comparison needs more than ``summary.json``: the exact HDR histograms
(``histograms/latency.hdr``) for the confidence intervals, and the load record
(``load.json``) for the failure and per-commune counts. :func:`load_compared_run` reads
both (and the journal's provenance, for the profile and seed) and turns every problem
into a :class:`kernel.errors.ConfigError` naming the file — and the line, for a damaged
histogram — so the command says what is wrong before it prints anything::

    ERROR: runs/a/histograms/latency.hdr:7: histogram: encoded histogram: not a V2 compressed histogram
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kernel.commune_latency import COMMUNE_LATENCY_FILE, load_commune_latency
from kernel.errors import ConfigError, ConfigProblem
from kernel.hdr import SparseHistogram
from kernel.latency_records import HISTOGRAM_FILE, HistogramKey, LatencyRecordError, load_histograms
from reports.histogram_bounds import check_histogram_file, check_histogram_run, check_sample_counts
from reports.load_record import LOAD_RECORD_FILE, LoadRecord, load_load_record
from reports.run_files import JOURNAL_FILE, check_same_run, load_journal, record_present

__all__ = ["COMMUNES_PATH", "HISTOGRAMS_PATH", "ComparedRun", "RunPair", "load_compared_run", "load_compared_runs",
           "load_run_pair", "differences"]

#: Where a run directory keeps its latency record.
HISTOGRAMS_PATH = Path("histograms") / HISTOGRAM_FILE
#: Where it keeps the per-commune latency sketches (runs from before them have none).
COMMUNES_PATH = Path("histograms") / COMMUNE_LATENCY_FILE

_RUN_DIR_FORMS = "the directory of a run, holding histograms/latency.hdr and load.json (e.g. runs/latest)"


@dataclass(frozen=True)
class ComparedRun:
    """The records of one run that a comparison reads."""

    directory: Path
    run_id: str
    profile: str
    seed: int | None  # from the journal's provenance; None when the run has no journal
    histograms: dict[HistogramKey, SparseHistogram]
    load: LoadRecord
    communes: dict[str, SparseHistogram] | None = None  # per-commune sketches; None: not recorded


class RunPair(NamedTuple):
    """A baseline run and the run judged against it."""

    baseline: ComparedRun
    current: ComparedRun


def _problem(path: Path, message: str, line: int | None = None) -> ConfigError:
    return ConfigError([ConfigProblem(str(path), line, "", message)])


def _histograms(path: Path) -> dict[HistogramKey, SparseHistogram]:
    if not record_present(path):
        raise _problem(path, "file not found; a run writes it at its end (was the run interrupted?)")
    check_histogram_file(path, "the run's latency record (HDR histograms dientap writes)")
    try:
        histograms = load_histograms(path)
    except LatencyRecordError as exc:
        raise _problem(Path(exc.path), exc.reason, exc.line) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _problem(path, f"cannot read: {exc}") from None
    if not histograms and not path.read_text(encoding="utf-8").startswith("#"):
        # The writer always starts with its header line; an empty file is a truncated one.
        raise _problem(path, "empty file: not a latency record")
    check_sample_counts(path, {f"{k.service} {k.endpoint} province {k.province} ({k.measure})": h
                               for k, h in histograms.items()})
    return histograms


def _communes(path: Path) -> dict[str, SparseHistogram] | None:
    # A missing commune file is an older run (commune lines compare error rates only);
    # a damaged one is an ERROR naming it, like a damaged latency.hdr.
    if not record_present(path):
        return None
    check_histogram_file(path, "the run's per-commune latency sketches (HDR histograms dientap writes)")
    communes = load_commune_latency(path)
    check_sample_counts(path, {f"commune {code}": sketch for code, sketch in communes.items()})
    return communes


def load_compared_run(run_dir: str | Path) -> ComparedRun:
    """Read ``run_dir``'s histograms, load record and provenance; any problem is a ConfigError."""
    directory = Path(run_dir)
    try:
        is_dir, exists = directory.is_dir(), directory.exists()
    except OSError as exc:  # a name too long to be a path, say
        text = str(directory)
        shown = text if len(text) <= 200 else f"{text[:60]}… ({len(text):,} characters)"
        why = (exc.strerror or str(exc)).lower()
        raise ConfigError([ConfigProblem(shown, None, "", f"{why}; give {_RUN_DIR_FORMS}")]) from None
    if not is_dir:
        why = "a file, not a run directory" if exists else "no such directory"
        raise _problem(directory, f"{why}; give {_RUN_DIR_FORMS}")
    histograms = _histograms(directory / HISTOGRAMS_PATH)
    load = load_load_record(directory)
    seed = None
    if record_present(directory / JOURNAL_FILE):
        provenance = load_journal(directory).provenance
        check_same_run(directory / JOURNAL_FILE, "provenance.run_id", provenance.run_id,
                       directory / LOAD_RECORD_FILE, load.run_id)
        seed = provenance.seed
    communes = _communes(directory / COMMUNES_PATH)
    check_histogram_run(directory / HISTOGRAMS_PATH, directory / LOAD_RECORD_FILE, load.run_id)
    if communes is not None:
        check_histogram_run(directory / COMMUNES_PATH, directory / LOAD_RECORD_FILE, load.run_id)
    return ComparedRun(directory=directory, run_id=load.run_id, profile=load.profile, seed=seed,
                       histograms=histograms, load=load, communes=communes)


def load_compared_runs(*run_dirs: str | Path) -> list[ComparedRun]:
    """Load several runs; the problems of all of them are raised together (one ConfigError)."""
    runs: list[ComparedRun] = []
    problems: list[ConfigProblem] = []
    for run_dir in run_dirs:
        try:
            runs.append(load_compared_run(run_dir))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return runs


def load_run_pair(baseline_dir: str | Path, current_dir: str | Path) -> RunPair:
    """Load a baseline run and the run judged against it (the problems of both together);
    a baseline that is the judged run itself — the same directory, or a copy of it — is a
    ConfigError naming it: a run compared with itself never regresses, and a gate that
    passed that way would have judged nothing."""
    pair = RunPair(*load_compared_runs(baseline_dir, current_dir))
    if pair.baseline.run_id == pair.current.run_id:
        raise _problem(Path(baseline_dir), f"the baseline is run {pair.current.run_id!r}, the run it would judge; "
                                           "give the directory of an earlier run")
    return pair


def differences(baseline: ComparedRun, current: ComparedRun) -> list[str]:
    """How the two runs' set-ups differ (profile, seed), e.g. ``profile smoke vs golive``;
    empty when they ran the same thing. A difference is worth a warning, not a refusal:
    what both measured can still be compared."""
    found = []
    if baseline.profile != current.profile:
        found.append(f"profile {baseline.profile} vs {current.profile}")
    if baseline.seed is not None and current.seed is not None and baseline.seed != current.seed:
        found.append(f"seed {baseline.seed} vs {current.seed}")
    return found
