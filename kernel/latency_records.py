"""The whole-run latency record: histograms keyed by (service, endpoint, province,
measure), merging them, and their file format. The load writes it; metrics observe the
live histograms by these keys; reports read the file to build ``summary.json``.

File format (``latency.hdr``, one histogram a line)::

    # comment
    # run_id<TAB>20261207-231500
    service<TAB>endpoint<TAB>province<TAB>measure<TAB>HdrHistogram V2 (base64, µs)

The ``run_id`` line (:func:`run_id_line`, read back by :func:`recorded_run_id`) names the
run that wrote the file, so a reader can refuse a histogram file copied in from another
run beside records of this one; files written before it existed have none.

Beside it ``percentiles.json`` lists each key's count and p50/p95/p99/p99.9/max for
people and tools that do not decode HDR.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from kernel.hdr import HistogramSummary, SparseHistogram

__all__ = [
    "HISTOGRAM_FILE",
    "LatencyRecordError",
    "PERCENTILES_FILE",
    "Measure",
    "HistogramKey",
    "merge_matching",
    "dump_histograms",
    "load_histograms",
    "merge_histogram_maps",
    "recorded_run_id",
    "run_id_line",
    "on_one_line",
]

HISTOGRAM_FILE = "latency.hdr"
PERCENTILES_FILE = "percentiles.json"

# The run id line is among a file's first few comments; a reader looks no further.
_RUN_ID_PREFIX = "# run_id\t"
_HEAD_LINES, _HEAD_LINE_BYTES = 4, 4096

Measure = Literal["service", "intended"]
_MEASURES: dict[str, Measure] = {"service": "service", "intended": "intended"}


class LatencyRecordError(ValueError):
    """A line of a latency record that cannot be read: which file, which line, and why."""

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{path}:{line}: {reason}")


class HistogramKey(NamedTuple):
    """What one whole-run histogram is about."""

    service: str
    endpoint: str
    province: str
    measure: Measure


def merge_matching(
    histograms: Mapping[HistogramKey, SparseHistogram],
    service: str | None = None,
    endpoint: str | None = None,
    province: str | None = None,
    measure: Measure = "service",
) -> SparseHistogram:
    """One histogram merged over every key matching the given fields (None = any)."""
    result = SparseHistogram()
    for key, hist in histograms.items():
        if key.measure != measure:
            continue
        if service is not None and key.service != service:
            continue
        if endpoint is not None and key.endpoint != endpoint:
            continue
        if province is not None and key.province != province:
            continue
        result.add(hist)
    return result


def run_id_line(run_id: str) -> str:
    """The comment line naming the run that writes a record file of histograms."""
    return f"{_RUN_ID_PREFIX}{on_one_line(run_id)}"


def recorded_run_id(path: str | Path) -> str | None:
    """The run named by the ``run_id`` line among the leading comments of ``path`` (None for
    a file from before that line existed). Reads the head only: the file may be large."""
    with Path(path).open(encoding="utf-8", errors="replace") as lines:
        for _ in range(_HEAD_LINES):
            line = lines.readline(_HEAD_LINE_BYTES)
            if not line.startswith("#"):
                return None
            if line.startswith(_RUN_ID_PREFIX):
                return line[len(_RUN_ID_PREFIX):].rstrip("\r\n")
    return None


def dump_histograms(histograms: Mapping[HistogramKey, SparseHistogram], directory: str | Path,
                    run_id: str | None = None) -> Path:
    """Write ``directory/latency.hdr`` and ``directory/percentiles.json`` (see the module
    docstring), naming ``run_id`` when given; returns the histogram file's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["# dientap latency histograms: service\tendpoint\tprovince\tmeasure\tHdrHistogram V2 (µs)"]
    if run_id is not None:
        lines.append(run_id_line(run_id))
    table = []
    for key, hist in sorted(histograms.items()):
        fields = [on_one_line(part) for part in key]
        lines.append("\t".join([*fields, hist.encode()]))
        table.append({**key._asdict(), **_summary_fields(hist.summary())})
    path = directory / HISTOGRAM_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / PERCENTILES_FILE).write_text(json.dumps(table, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def load_histograms(path: str | Path) -> dict[HistogramKey, SparseHistogram]:
    """Read a file written by :func:`dump_histograms` (several files: merge yourself).

    A line that cannot be read raises :class:`LatencyRecordError` naming the file and line.
    """
    result: dict[HistogramKey, SparseHistogram] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        measure = _MEASURES.get(parts[3]) if len(parts) == 5 else None
        if measure is None:
            raise LatencyRecordError(path, number, "expected service, endpoint, province, measure, histogram")
        key = HistogramKey(parts[0], parts[1], parts[2], measure)
        try:
            hist = SparseHistogram.decode(parts[4])
        except (ValueError, IndexError, zlib.error, struct.error) as exc:  # a damaged line: base64, zlib, header, payload
            raise LatencyRecordError(path, number, f"histogram: {exc}") from None
        if key in result:
            result[key].add(hist)
        else:
            result[key] = hist
    return result


def merge_histogram_maps(
    maps: Iterable[dict[HistogramKey, SparseHistogram]],
) -> dict[HistogramKey, SparseHistogram]:
    """Key-wise exact sum of several histogram maps."""
    result: dict[HistogramKey, SparseHistogram] = {}
    for mapping in maps:
        for key, hist in mapping.items():
            if key in result:
                result[key].add(hist)
            else:
                result[key] = hist.copy()
    return result


def _summary_fields(summary: HistogramSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in HistogramSummary.__slots__}


# A tab separates the fields; every character str.splitlines() ends a line at (the reader's
# split: \r, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029 as well as \n) would cut a key in two,
# and the whole file would then be refused as damaged. Endpoint names never need any of them.
_BREAKS_THE_LINE = str.maketrans(dict.fromkeys("\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))


def on_one_line(text: str) -> str:
    """``text`` with every tab and line-ending character a space: one field of a record line."""
    return text.translate(_BREAKS_THE_LINE)
