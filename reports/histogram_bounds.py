"""Bounds on the HDR histogram files of a run directory (``histograms/latency.hdr`` and
``histograms/communes.hdr``), checked around :mod:`kernel.latency_records` and
:mod:`kernel.commune_latency`, which decode them.

A histogram's V2 encoding is zlib-compressed, so a line of a few hundred bytes can inflate to
gigabytes: 300 MB of zeros kept ``dientap compare`` decoding for minutes. And a histogram's
counts are 64-bit: one of 2⁶² samples sent :func:`reports.intervals.order_statistic_ranks`
past what a float holds (an OverflowError) and would have made it walk 10¹⁰ ranks. Both are
refused here, as a :class:`~kernel.errors.ConfigError` naming the file (and the line, or the
histogram), before any figure is computed from them.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from kernel.errors import ConfigError, ConfigProblem
from kernel.hdr import SparseHistogram
from reports.run_files import read_record_text

__all__ = ["MAX_HISTOGRAM_FILE_BYTES", "MAX_PAYLOAD_BYTES", "MAX_SAMPLES", "read_histogram_file", "check_sample_counts"]

#: The largest histogram file read: a national run's latency.hdr holds a few thousand
#: histograms of a few kilobytes each; this is far past it and keeps memory bounded.
MAX_HISTOGRAM_FILE_BYTES: Final = 128 * 1024 * 1024
#: The most one histogram's payload may inflate to. At three significant digits a histogram
#: of 1 µs–1 h has 23,552 slots, each at most a 9-byte count after a 9-byte gap: 424 KB.
MAX_PAYLOAD_BYTES: Final = 1024 * 1024
#: The most samples one histogram may hold: a week at 10,000 requests/s is 6·10⁹.
MAX_SAMPLES: Final = 10**10
# The V2 compressed encoding starts with a cookie and the compressed length (int32 each).
_ENCODING_HEADER_BYTES: Final = 8


def _inflates_too_far(encoded: str) -> bool:
    """Whether ``encoded`` (one histogram, base64) inflates past :data:`MAX_PAYLOAD_BYTES`.
    An encoding damaged otherwise is left to the loader, whose message says how."""
    try:
        raw = base64.b64decode(encoded, validate=True)
        inflated = zlib.decompressobj().decompress(raw[_ENCODING_HEADER_BYTES:], MAX_PAYLOAD_BYTES + 1)
    except (binascii.Error, ValueError, zlib.error):
        return False
    return len(inflated) > MAX_PAYLOAD_BYTES


def read_histogram_file(path: Path, expected: str) -> str:
    """The text of the histogram file at ``path``, each line's encoding inflating within
    bounds; a file that is not a regular one, too big, or holds a line that inflates too far
    is a ConfigError naming it (and the line)."""
    text = read_record_text(path, expected, MAX_HISTOGRAM_FILE_BYTES)
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line.startswith("#") and _inflates_too_far(line.rpartition("\t")[2]):
            raise ConfigError([ConfigProblem(str(path), number, "", (
                f"histogram: inflates to more than {MAX_PAYLOAD_BYTES:,} bytes; one histogram takes at "
                "most 424 KB (damaged, or not written by dientap)"))])
    return text


def check_sample_counts(path: Path, histograms: Mapping[str, SparseHistogram]) -> None:
    """Refuse a histogram (``{what it measures: histogram}``) holding more samples than a
    run records: its intervals could not be computed, and its figures are no run's."""
    for subject, histogram in histograms.items():
        if histogram.total > MAX_SAMPLES:
            raise ConfigError([ConfigProblem(str(path), None, "", (
                f"histogram of {subject}: {histogram.total:,} samples; a run records at most {MAX_SAMPLES:,} "
                "(damaged, or not written by dientap)"))])
