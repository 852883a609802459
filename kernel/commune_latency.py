"""The per-commune latency record: one latency sketch per commune, its stated accuracy,
merging, and its file format. The load writes it beside ``latency.hdr``; reports read it
for the communes table (without importing scenarios), and so can ``dientap compare``
(:func:`load_commune_latency` is the reader to plug in).

**What a commune's sketch holds.** Every request an actor of the commune made — citizens
arriving at it and its officers, on every service and endpoint — from the actual send
(Locust's response time, the ``service`` measure of ``latency.hdr``). These are exactly
the requests behind the commune's request and failure counts in ``load.json``, so a row
of the communes table speaks of one set of requests. Why not only the submission route:
at national scale a commune sees few submissions (``golive``: ≈ 0.3 per commune in
300 s) but tens to hundreds of officer and citizen requests, so only all of them give a
p95 per commune. Why not one sketch per service as well: it would triple the memory the
benchmark holds to 50 MB, and the per-service view exists per province in ``latency.hdr``.

**The sketch** is an HDR histogram at 2 significant digits
(:class:`kernel.hdr.SparseHistogram` with :data:`SIGNIFICANT_FIGURES`): a value's slot is
at most 1/128 of the value wide, and a percentile reads its slot's highest value, so it
is never below the exact sample at the same rank and at most 0.79 % above it (exact
under 256 µs). The stated accuracy is :data:`RELATIVE_ACCURACY` = 1 %. Slot counts add,
so merging is exact: the merge of parts equals the sketch of the whole. Why this and not
DDSketch at 1 % — cheaper to record, more accurate, a standard file — is measured in
``bench/commune_latency.py`` (BENCHMARKS.md) and told in ``scenarios/commune_sketches.py``,
which records them.

**Percentile rank** (HdrHistogram's rule): the p-th percentile of n samples is the
sample of rank ``max(int(p/100 × n + 0.5), 1)`` in increasing order.

File format (``communes.hdr``, one commune a line)::

    # comment
    # run_id<TAB>20261207-231500
    commune<TAB>HdrHistogram V2 (base64, µs, 2 significant digits)

The ``run_id`` line is :mod:`kernel.latency_records`' (one format for both files).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from kernel.configfile import read_text_file
from kernel.errors import ConfigError, ConfigProblem
from kernel.hdr import SparseHistogram
from kernel.latency_records import on_one_line, run_id_line

__all__ = [
    "COMMUNE_LATENCY_FILE",
    "SIGNIFICANT_FIGURES",
    "RELATIVE_ACCURACY",
    "new_commune_sketch",
    "merge_commune_maps",
    "dump_commune_latency",
    "load_commune_latency",
]

COMMUNE_LATENCY_FILE: Final = "communes.hdr"
SIGNIFICANT_FIGURES: Final = 2
#: The stated relative accuracy of any percentile read from a commune's sketch (the bound
#: is 1/128 ≈ 0.79 %; tested against exact quantiles).
RELATIVE_ACCURACY: Final = 0.01

_HEADER = "# dientap per-commune latency: commune\tHdrHistogram V2 (µs, 2 significant digits, send time, every request)"


def new_commune_sketch() -> SparseHistogram:
    """An empty sketch with the commune record's precision."""
    return SparseHistogram(SIGNIFICANT_FIGURES)


def merge_commune_maps(maps: Iterable[Mapping[str, SparseHistogram]]) -> dict[str, SparseHistogram]:
    """Commune-wise exact sum of several maps (their inputs are left untouched)."""
    result: dict[str, SparseHistogram] = {}
    for mapping in maps:
        for commune, sketch in mapping.items():
            if commune in result:
                result[commune].add(sketch)
            else:
                result[commune] = sketch.copy()
    return result


def dump_commune_latency(sketches: Mapping[str, SparseHistogram], directory: str | Path,
                         run_id: str | None = None) -> Path:
    """Write ``directory/communes.hdr`` (see the module docstring), naming ``run_id`` when
    given (:func:`kernel.latency_records.run_id_line`); returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [_HEADER]
    if run_id is not None:
        lines.append(run_id_line(run_id))
    for commune, sketch in sorted(sketches.items()):
        if sketch.total:
            lines.append(f"{on_one_line(commune)}\t{sketch.encode()}")
    path = directory / COMMUNE_LATENCY_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_commune_latency(path: str | Path) -> dict[str, SparseHistogram]:
    """Read a file written by :func:`dump_commune_latency`: commune code → sketch.

    A missing, unreadable or corrupt file is a :class:`~kernel.errors.ConfigError` naming
    the file (and the line), which the CLI prints as one ``ERROR:`` line.
    """
    source = str(path)
    result: dict[str, SparseHistogram] = {}
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        commune, tab, encoded = line.partition("\t")
        if not tab or not commune or "\t" in encoded:
            raise _corrupt(source, number, "expected commune<TAB>histogram")
        try:
            sketch = SparseHistogram.decode(encoded)
        # What a damaged encoding raises: bad base64 (a ValueError), a bad zlib stream, a
        # header cut short (struct), varints running past the end (IndexError).
        except (ValueError, zlib.error, struct.error, IndexError) as exc:
            raise _corrupt(source, number, f"commune {commune}: not an HdrHistogram V2 encoding ({exc})") from None
        if sketch.significant_figures != SIGNIFICANT_FIGURES:
            raise _corrupt(source, number, f"commune {commune}: {sketch.significant_figures} significant digits, "
                                           f"expected {SIGNIFICANT_FIGURES}")
        if commune in result:
            result[commune].add(sketch)
        else:
            result[commune] = sketch
    return result


def _corrupt(source: str, line: int, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(source, line, "", message)])

