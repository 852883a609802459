"""Bounds on the HDR histogram files of a run directory (``histograms/latency.hdr`` and
``histograms/communes.hdr``), checked around :mod:`kernel.latency_records` and
:mod:`kernel.commune_latency`, which read and decode them.

The file must be a regular one of a bounded size (checked before it is opened), and a
histogram's counts must be ones a run records: one of 2⁶² samples sent
:func:`reports.intervals.order_statistic_ranks` past what a float holds (an OverflowError)
and would have made it walk 10¹⁰ ranks. (How far one encoding may inflate is bounded where
it is decoded: :data:`kernel.hdr.MAX_DECODED_BYTES`.) Each is refused as a
:class:`~kernel.errors.ConfigError` naming the file (and the histogram), before any figure is
computed from them. So is a histogram file whose ``run_id`` line names another run than the
records beside it (:func:`check_histogram_run`): one copied in from another run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from kernel.errors import ConfigError, ConfigProblem
from kernel.hdr import SparseHistogram
from kernel.latency_records import recorded_run_id
from reports.run_files import check_record_file, check_same_run

__all__ = ["MAX_HISTOGRAM_FILE_BYTES", "MAX_SAMPLES", "check_histogram_file", "check_histogram_run",
           "check_sample_counts"]

#: The largest histogram file read: a national run's latency.hdr holds a few thousand
#: histograms of a few kilobytes each; this is far past it and keeps memory bounded.
MAX_HISTOGRAM_FILE_BYTES: Final = 128 * 1024 * 1024
#: The most samples one histogram may hold: a week at 10,000 requests/s is 6·10⁹.
MAX_SAMPLES: Final = 10**10


def check_histogram_file(path: Path, expected: str) -> None:
    """Refuse, before it is read, a histogram file that is not a regular one or is too big."""
    check_record_file(path, expected, MAX_HISTOGRAM_FILE_BYTES)


def check_sample_counts(path: Path, histograms: Mapping[str, SparseHistogram]) -> None:
    """Refuse a histogram (``{what it measures: histogram}``) holding more samples than a
    run records: its intervals could not be computed, and its figures are no run's."""
    for subject, histogram in histograms.items():
        if histogram.total > MAX_SAMPLES:
            raise ConfigError([ConfigProblem(str(path), None, "", (
                f"histogram of {subject}: {histogram.total:,} samples; a run records at most {MAX_SAMPLES:,} "
                "(damaged, or not written by dientap)"))])


def check_histogram_run(path: Path, reference: Path, run_id: str) -> None:
    """Refuse the histogram file at ``path`` when its ``run_id`` line names another run than
    ``reference`` (which holds ``run_id``). A file from before that line existed names none
    and is taken as the run's own."""
    found = recorded_run_id(path)
    if found is not None:
        check_same_run(path, "run_id", found, reference, run_id)
