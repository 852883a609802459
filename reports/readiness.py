"""The readiness matrix: 34 provinces × go-live checks, each cell green / amber / red / grey.

A cell is judged from the figure behind it (:class:`reports.summary.CheckFigure`):

* **grey**  — the check was not exercised (no figure, or zero requests);
* **red**   — error rate above ``error_rate_amber``, or p95 above ``amber_factor`` × the
  check's p95 limit;
* **amber** — error rate above ``error_rate_green``, or p95 above the check's p95 limit;
* **green** — otherwise.

A province's status:

* **ready**       — every check was exercised and no cell is red: the "N/34" count officials use;
* **not ready**   — a cell is red, or the province is missing from the run altogether;
* **throttled**   — no cell is red, but the target throttled more than ``max_throttled_rate``
  of the province's requests (423/429 with ``Retry-After``, :mod:`reports.summary`): the
  target protected itself instead of serving that load, so the province has not shown it
  can take it — a finding, not counted as ready, never silently "ready";
* **not proven**  — no cell is red but at least one check was not exercised: a run that did
  not try a check has not shown it works, so the province is not counted as ready.

Every row carries its requests and throttled count, so reports say how hard each province
was throttled (count and share) whatever its status.

The matrix counts proven cells (exercised, any colour) beside the ready provinces.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from kernel.configfile import StrictModel
from kernel.roster import load_roster
from reports.summary import READINESS_CHECKS, CheckFigure, ProvinceSummary, Summary

__all__ = [
    "CellColor",
    "ReadinessThresholds",
    "ReadinessCell",
    "ProvinceReadiness",
    "ReadinessMatrix",
    "ProvinceStatus",
    "NOT_PROVEN",
    "readiness_matrix",
    "readiness_matrix_of",
    "judge_cell",
]

CellColor = Literal["green", "amber", "red", "grey"]


class CheckP95Limits(StrictModel):
    """p95 limit (ms) of each readiness check; green at or below, amber up to the factor."""

    sign_in: float = Field(default=1000.0, gt=0)
    catalogue: float = Field(default=800.0, gt=0)
    dossier_submit: float = Field(default=1500.0, gt=0)
    status_sync: float = Field(default=2000.0, gt=0)
    population_lookup: float = Field(default=800.0, gt=0)
    document_exchange: float = Field(default=2000.0, gt=0)


class ReadinessThresholds(StrictModel):
    """Thresholds of the matrix colours (the ``readiness:`` section of ``budgets.yaml``)."""

    error_rate_green: float = Field(default=0.01, ge=0, le=1)
    error_rate_amber: float = Field(default=0.05, ge=0, le=1)
    amber_factor: float = Field(default=2.0, ge=1)
    p95_ms: CheckP95Limits = Field(default_factory=CheckP95Limits)
    # The share of a province's requests the target may throttle before the province is
    # "throttled" instead of ready. 0: one throttled request is enough to say so.
    max_throttled_rate: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _green_below_amber(self) -> ReadinessThresholds:
        # Green above amber would colour a cell red while it is within the green threshold.
        if self.error_rate_green > self.error_rate_amber:
            raise ValueError(f"error_rate_green ({self.error_rate_green}) is above error_rate_amber "
                             f"({self.error_rate_amber}); expected error_rate_green <= error_rate_amber")
        return self


@dataclass(frozen=True, slots=True)
class ReadinessCell:
    """One cell: the check, its colour, the figure behind it and why it has that colour."""

    check: str
    label: str
    color: CellColor
    figure: CheckFigure | None
    text: str  # short figure shown in the cell, e.g. "99.2 % · 340 ms"
    reason: str  # one sentence for the tooltip / Markdown


ProvinceStatus = Literal["ready", "not ready", "throttled", "not proven"]
NOT_PROVEN = "not proven"


@dataclass(frozen=True, slots=True)
class ProvinceReadiness:
    """One matrix row."""

    code: str
    name: str
    cells: tuple[ReadinessCell, ...]
    status: ProvinceStatus
    communes_active: int = 0
    communes_total: int = 0
    requests: int = 0
    throttled: int = 0  # requests the target throttled (423/429 with Retry-After)

    @property
    def ready(self) -> bool:
        """Every check exercised, none red, not throttled."""
        return self.status == "ready"

    @property
    def throttled_share(self) -> float:
        """Throttled requests ÷ the province's requests (0 without requests)."""
        return self.throttled / self.requests if self.requests else 0.0

    @property
    def throttled_text(self) -> str:
        """How hard the target throttled the province, e.g. "340 throttled (12.0 %)"; "" if not at all."""
        return f"{self.throttled:,} throttled ({100 * self.throttled_share:.1f} %)" if self.throttled else ""


@dataclass(frozen=True, slots=True)
class ReadinessMatrix:
    """All rows (roster order), the ready count and the thresholds used."""

    rows: tuple[ProvinceReadiness, ...]
    ready_count: int
    total: int
    thresholds: ReadinessThresholds

    @property
    def not_ready(self) -> tuple[ProvinceReadiness, ...]:
        """The rows with a red cell, or absent from the run."""
        return tuple(r for r in self.rows if r.status == "not ready")

    @property
    def throttled(self) -> tuple[ProvinceReadiness, ...]:
        """The rows whose requests the target throttled (any status), most throttled share first."""
        return tuple(sorted((r for r in self.rows if r.throttled), key=lambda r: (-r.throttled_share, r.code)))

    @property
    def not_proven(self) -> tuple[ProvinceReadiness, ...]:
        """The rows with no red cell but a check not exercised."""
        return tuple(r for r in self.rows if r.status == "not proven")

    @property
    def proven_cells(self) -> int:
        """Cells whose check was exercised in this run (any colour)."""
        return sum(1 for r in self.rows for c in r.cells if c.color != "grey")

    @property
    def total_cells(self) -> int:
        """Every cell of the matrix."""
        return sum(len(r.cells) for r in self.rows)


def _fmt_ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def judge_cell(check: str, label: str, figure: CheckFigure | None, t: ReadinessThresholds) -> ReadinessCell:
    """Colour one cell (see the module docstring for the rules)."""
    if figure is None or figure.requests == 0:
        return ReadinessCell(check, label, "grey", figure, NOT_PROVEN, "not exercised in this run: not proven")
    limit = getattr(t.p95_ms, check)
    rate = figure.failures / figure.requests
    ok_pct = 100.0 * (1.0 - rate)
    text = f"{ok_pct:.1f} % ok"
    if figure.p95_ms is not None:
        text += f" · {_fmt_ms(figure.p95_ms)}"
    facts = f"{figure.requests:,} requests, {figure.failures:,} failed ({100 * rate:.2f} %)"
    if figure.throttled:
        facts += f", {figure.throttled:,} throttled by the target ({100 * figure.throttled / figure.requests:.2f} %)"
    if figure.p95_ms is not None:
        facts += f", p95 {_fmt_ms(figure.p95_ms)} (limit {_fmt_ms(limit)})"
    if figure.note:
        facts += f"; {figure.note}"
    slow = figure.p95_ms is not None and figure.p95_ms > limit
    very_slow = figure.p95_ms is not None and figure.p95_ms > limit * t.amber_factor
    if rate > t.error_rate_amber or very_slow:
        color: CellColor = "red"
    elif rate > t.error_rate_green or slow:
        color = "amber"
    else:
        color = "green"
    return ReadinessCell(check, label, color, figure, text, facts)


def readiness_matrix(summary: Summary, thresholds: ReadinessThresholds | None = None) -> ReadinessMatrix:
    """Build the matrix for every province of the roster from ``summary.provinces``."""
    return readiness_matrix_of(summary.provinces, thresholds)


def readiness_matrix_of(provinces: Iterable[ProvinceSummary], thresholds: ReadinessThresholds | None = None) -> ReadinessMatrix:
    """The matrix of the given provinces' figures (the roster's others are absent): the one
    rule the report and the live board (``metrics.board``, on the running load) both use."""
    t = thresholds or ReadinessThresholds()
    by_code = {p.code: p for p in provinces}
    rows = []
    for province in load_roster().provinces:
        found = by_code.get(province.code)
        if found is None:
            cells = tuple(ReadinessCell(c, lbl, "grey", None, NOT_PROVEN, "province absent from the run")
                          for c, lbl in READINESS_CHECKS)
        else:
            cells = tuple(judge_cell(c, lbl, getattr(found.checks, c), t) for c, lbl in READINESS_CHECKS)
        status: ProvinceStatus
        requests, throttled = (found.requests, found.throttled) if found else (0, 0)
        if found is None or any(cell.color == "red" for cell in cells):
            status = "not ready"
        elif requests and throttled / requests > t.max_throttled_rate:
            status = "throttled"
        elif any(cell.color == "grey" for cell in cells):
            status = "not proven"
        else:
            status = "ready"
        rows.append(ProvinceReadiness(province.code, found.name if found else province.name, cells, status,
                                      found.communes_active if found else 0,
                                      found.communes_total if found else len(province.commune_codes),
                                      requests, throttled))
    return ReadinessMatrix(tuple(rows), sum(r.ready for r in rows), len(rows), t)
