"""The readiness matrix and the worst communes of the *running* load, judged by the report's
own rule: the same :func:`reports.summary_build.check_figure` makes each cell's figure from
the cell's histograms and failures, the same :func:`reports.readiness.readiness_matrix_of`
colours the cells and decides each province's status, and the same
:func:`reports.summary_build.commune_coverage` ranks the communes. One rule, two views: at
the end of a run the board shows what ``report.html`` will show.

Cost. The board runs in the load process that holds the merged figures — on a single-process
run that is the load generator itself, whose event loop must not stall. A cell's figure
merges its endpoints' HDR histograms (≈ 1–4 ms a cell after a long national run), so:

* a cell is recomputed only when its inputs moved (its histograms' totals or its failure
  counts; both only grow), and a quiet province costs nothing;
* after each recomputed cell the computation yields (``pause``, ``gevent.sleep(0)`` in the
  Locust process), so the generator's greenlets run between cells;
* nothing is computed unless someone has the page open (the server computes on request,
  at most once per refresh interval).

Each cell is consistent in itself (requests, failures and p95 read at the same moment);
cells of one refresh may be a few milliseconds apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kernel.defaults import COMMUNE_P95_MIN_SAMPLES
from kernel.latency_records import HistogramKey
from kernel.load_observation import LatencyObservation
from kernel.roster import Roster, load_roster
from reports.readiness import ReadinessMatrix, ReadinessThresholds, readiness_matrix_of
from reports.summary import CheckFigure, CommunesSummary, CommuneStats, ProvinceChecks, ProvinceSummary
from reports.summary_build import CHECK_ENDPOINTS, check_figure, commune_coverage, commune_stats_of

__all__ = ["COMMUNES_PER_SLICE", "LoadTotals", "LiveReadiness"]

FailureKey = tuple[str, str, str]
CellKey = tuple[str, str]  # province code, check
# Rows of the worst-communes table remade between two yields (≈ 40 µs each: a sketch copied
# and its p95 read), so a refresh after which every commune moved holds the loop ≈ 2 ms at a time.
COMMUNES_PER_SLICE = 50


@dataclass(frozen=True, slots=True)
class LoadTotals:
    """Requests, failures and requests throttled by the target of the whole load so far."""

    requests: int
    failures: int
    throttled: int = 0


class LiveReadiness:
    """Cells, matrix and communes of a running load (see the module docstring)."""

    def __init__(self, roster: Roster | None = None, thresholds: ReadinessThresholds | None = None,
                 pause: Callable[[], object] | None = None, min_latency_samples: int = COMMUNE_P95_MIN_SAMPLES) -> None:
        self.roster = roster or load_roster()
        self.thresholds = thresholds or ReadinessThresholds()
        self.pause = pause
        self.min_latency_samples = min_latency_samples
        # Each cell's inputs, named once: the histogram and the failure key of every endpoint.
        self._inputs: dict[CellKey, tuple[tuple[HistogramKey, FailureKey], ...]] = {
            (province.code, check): tuple(
                (HistogramKey(service, endpoint, province.code, "service"), (service, endpoint, province.code))
                for service, endpoint in endpoints
            )
            for province in self.roster.provinces
            for check, endpoints in CHECK_ENDPOINTS.items()
        }
        self._cells: dict[CellKey, tuple[tuple[int, ...], CheckFigure | None]] = {}
        self._communes: dict[str, tuple[tuple[int, int, int], CommuneStats]] = {}
        self.recomputed = 0  # cells the last :meth:`matrix` recomputed (for tests and the bench)
        self.communes_remade = 0  # commune rows the last :meth:`communes` remade

    def _cell(self, recorder: LatencyObservation, key: CellKey) -> CheckFigure | None:
        histograms, failures, throttled = recorder.histograms, recorder.key_failures, recorder.key_throttled
        inputs = self._inputs[key]
        moved: list[int] = []
        for hist_key, fail_key in inputs:
            hist = histograms.get(hist_key)
            moved += (hist.total if hist is not None else 0, failures.get(fail_key, 0), throttled.get(fail_key, 0))
        signature = tuple(moved)  # totals, failure and throttled counts only grow: equal means unchanged
        cached = self._cells.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        own_histograms = {hk: h for hk, _ in inputs if (h := histograms.get(hk)) is not None}
        own_failures = {fk: n for _, fk in inputs if (n := failures.get(fk, 0))}
        own_throttled = {fk: n for _, fk in inputs if (n := throttled.get(fk, 0))}
        province, check = key
        figure = check_figure(own_histograms, own_failures, check, province, own_throttled)
        self._cells[key] = (signature, figure)
        self.recomputed += 1
        if self.pause is not None:
            self.pause()
        return figure

    def matrix(self, recorder: LatencyObservation) -> ReadinessMatrix:
        """The 34-province matrix of the load so far, by the report's rule."""
        self.recomputed = 0
        sent: dict[str, int] = {}  # requests by province
        failed: dict[str, int] = {}
        throttled: dict[str, int] = {}
        # Snapshots of the keys: the load may add a key while this computation yields.
        for key, hist in list(recorder.histograms.items()):
            if key.measure == "service":
                sent[key.province] = sent.get(key.province, 0) + hist.total
        for (_service, _endpoint, code), n in list(recorder.key_failures.items()):
            failed[code] = failed.get(code, 0) + n
        for (_service, _endpoint, code), n in list(recorder.key_throttled.items()):
            throttled[code] = throttled.get(code, 0) + n
        provinces = []
        for province in self.roster.provinces:
            checks = {check: self._cell(recorder, (province.code, check)) for check in CHECK_ENDPOINTS}
            communes = recorder.communes
            active = sum(1 for code in province.commune_codes if (c := communes.get(code)) is not None and c.requests)
            provinces.append(ProvinceSummary(
                code=province.code, name=province.name, communes_total=len(province.commune_codes),
                communes_active=active, requests=sent.get(province.code, 0), failures=failed.get(province.code, 0),
                throttled=throttled.get(province.code, 0),
                p95_ms=None,  # the province's overall p95 is not drawn on the board: not merged live
                checks=ProvinceChecks(**checks),
            ))
        return readiness_matrix_of(provinces, self.thresholds)

    def communes(self, recorder: LatencyObservation) -> CommunesSummary:
        """Communes on line, with failures, with a p95, and the worst ones, by the report's rule
        (:func:`reports.summary_build.commune_stats_of` per commune, then ``commune_coverage``).
        A commune's row is remade only when its counts or its sketch moved, yielding every
        :data:`COMMUNES_PER_SLICE` rows remade."""
        sketches = recorder.commune_sketches_now()
        rows: list[CommuneStats] = []
        remade = 0
        for code, tally in list(recorder.communes.items()):
            if not tally.requests:
                continue
            sketch = sketches.get(code)
            signature = (tally.requests, tally.failures, sketch.total if sketch is not None else 0)
            cached = self._communes.get(code)
            if cached is None or cached[0] != signature:
                row = commune_stats_of(code, tally, sketch.to_histogram() if sketch is not None else None, self.roster,
                                       self.min_latency_samples)
                cached = self._communes[code] = (signature, row)
                remade += 1
                if self.pause is not None and remade % COMMUNES_PER_SLICE == 0:
                    self.pause()
            rows.append(cached[1])
        self.communes_remade = remade
        return commune_coverage(rows, self.roster, self.min_latency_samples)

    @staticmethod
    def totals(recorder: LatencyObservation) -> LoadTotals:
        """Requests, failures and throttled so far (every request lands in exactly one ``service`` histogram)."""
        requests = sum(h.total for k, h in list(recorder.histograms.items()) if k.measure == "service")
        return LoadTotals(requests=requests, failures=sum(list(recorder.key_failures.values())),
                          throttled=sum(list(recorder.key_throttled.values())))
