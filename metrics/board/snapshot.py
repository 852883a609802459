"""``board.json``: what the live board's page reads every few seconds (format version 1).

::

    BoardSnapshot
     ├── version, generated_at (epoch s), refresh_s
     ├── run     RunView       run_id, profile, command, state, elapsed_s, duration_s, requests, failures,
     │                         throttled (by the target: 423/429 with Retry-After; not among failures)
     ├── matrix  MatrixView    checks [{id, label}], ready_count/total, not_proven, throttled, proven_cells/total_cells,
     │                         rows [{code, name, status, ready, ready_text, ready_color, throttled, throttled_text,
     │                                communes_active, communes_total, cells [{check, color, text, reason}]}]
     ├── communes CommunesView total, active, with_failures, with_p95, min_latency_samples,
     │                         worst [{code, name, province_code, requests, failures, p95_ms,
     │                                 latency_samples, p95_text}]
     └── drill   DrillView | null   name, title, steps [{name, backend, kind, target, at_s, end_s,
                                                       started_s, stopped_s, state}]

Every colour, status and text comes from the report's rule (:mod:`reports.readiness`,
:mod:`reports.summary_build`) and look (:data:`reports.html.READY_LOOK`,
:func:`reports.markdown.commune_p95_text`); the page only draws them. Step offsets are seconds
from the load's start (Locust's ``test_start``), planned beside actual.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from metrics.board.feed import BoardFeed, FeedStep
from metrics.board.figures import LoadTotals
from reports.html import READY_LOOK
from reports.markdown import commune_p95_text
from reports.readiness import ReadinessMatrix
from reports.summary import READINESS_CHECKS, CommunesSummary, CommuneStats

__all__ = ["RunState", "StepState", "CellView", "RowView", "CheckColumn", "MatrixView", "CommuneRow", "CommunesView",
           "StepView", "DrillView", "RunView", "BoardSnapshot", "matrix_view", "communes_view", "drill_view", "run_state",
           "run_view"]

RunState = Literal["starting", "running", "stopping", "over"]
StepState = Literal["planned", "active", "over"]

# Locust runner states (locust.runners.STATE_*) → what the board says.
_RUNNER_STATES: dict[str, RunState] = {
    "ready": "starting", "spawning": "running", "running": "running",
    "cleanup": "stopping", "stopping": "stopping", "stopped": "over",
}


class CellView(BaseModel):
    """One matrix cell: the check, its colour, the figure shown and why."""

    check: str
    color: Literal["green", "amber", "red", "grey"]
    text: str
    reason: str


class RowView(BaseModel):
    """One province: its cells and its status, with the report's look for the last column."""

    code: str
    name: str
    status: Literal["ready", "not ready", "throttled", "not proven"]
    ready: str  # the report's data-ready attribute: yes / no / throttled / not-proven
    ready_text: str
    ready_color: str
    throttled: int = 0  # requests the target throttled
    throttled_text: str = ""  # e.g. "340 throttled (12.0 %)"; "" when none
    communes_active: int
    communes_total: int
    cells: list[CellView]


class CheckColumn(BaseModel):
    """A matrix column."""

    id: str
    label: str


class MatrixView(BaseModel):
    """The readiness matrix as the report draws it."""

    checks: list[CheckColumn]
    ready_count: int
    total: int
    not_proven: int
    throttled: int  # provinces the target throttled (any status)
    proven_cells: int
    total_cells: int
    rows: list[RowView]


class CommuneRow(CommuneStats):
    """A worst commune, with its p95 cell as the report writes it ("too few (n < 20)" below the minimum)."""

    p95_text: str


class CommunesView(BaseModel):
    """Commune coverage and the worst communes, as the report's communes section has them."""

    total: int
    active: int
    with_failures: int
    with_p95: int
    min_latency_samples: int
    worst: list[CommuneRow]


class StepView(BaseModel):
    """A drill step: planned and actual offsets from the load's start, and its state now."""

    name: str
    backend: str
    kind: str
    target: str
    at_s: float
    end_s: float
    started_s: float | None
    stopped_s: float | None
    state: StepState


class DrillView(BaseModel):
    """The drill under the load and its timeline."""

    name: str
    title: str
    steps: list[StepView]


class RunView(BaseModel):
    """Which run, how far along, how much traffic."""

    run_id: str | None
    profile: str | None
    command: Literal["run", "drill"] | None
    state: RunState
    elapsed_s: float | None
    duration_s: float | None
    requests: int
    failures: int
    throttled: int = 0


class BoardSnapshot(BaseModel):
    """The whole of ``board.json`` (see the module docstring)."""

    version: Literal[1] = 1
    generated_at: float
    refresh_s: float
    run: RunView
    matrix: MatrixView
    communes: CommunesView
    drill: DrillView | None


def matrix_view(matrix: ReadinessMatrix) -> MatrixView:
    """The matrix with the report's look for each province's status."""
    rows = []
    for r in matrix.rows:
        ready, text, color = READY_LOOK[r.status]
        rows.append(RowView(
            code=r.code, name=r.name, status=r.status, ready=ready, ready_text=text, ready_color=color,
            throttled=r.throttled, throttled_text=r.throttled_text,
            communes_active=r.communes_active, communes_total=r.communes_total,
            cells=[CellView(check=c.check, color=c.color, text=c.text, reason=c.reason) for c in r.cells],
        ))
    return MatrixView(
        checks=[CheckColumn(id=check, label=label) for check, label in READINESS_CHECKS],
        ready_count=matrix.ready_count, total=matrix.total, not_proven=len(matrix.not_proven),
        throttled=len(matrix.throttled),
        proven_cells=matrix.proven_cells, total_cells=matrix.total_cells, rows=rows,
    )


def communes_view(communes: CommunesSummary) -> CommunesView:
    """The communes section with each worst commune's p95 cell in the report's words."""
    return CommunesView(
        total=communes.total, active=communes.active, with_failures=communes.with_failures,
        with_p95=communes.with_p95, min_latency_samples=communes.min_latency_samples,
        worst=[CommuneRow(**w.model_dump(), p95_text=commune_p95_text(w, communes.min_latency_samples))
               for w in communes.worst],
    )


def _offset(at: float | None, load_started_at: float | None) -> float | None:
    if at is None or load_started_at is None:
        return None
    return round(at - load_started_at, 3)


def _step(step: FeedStep, load_started_at: float | None) -> StepView:
    state: StepState = "planned" if step.started_at is None else "active" if step.stopped_at is None else "over"
    return StepView(
        name=step.name, backend=step.backend, kind=step.kind, target=step.target, at_s=step.at_s, end_s=step.end_s,
        started_s=_offset(step.started_at, load_started_at), stopped_s=_offset(step.stopped_at, load_started_at),
        state=state,
    )


def drill_view(feed: BoardFeed | None, load_started_at: float | None) -> DrillView | None:
    """The drill's timeline from the feed (None for a plain run)."""
    if feed is None or feed.drill is None:
        return None
    return DrillView(name=feed.drill.name, title=feed.drill.title,
                     steps=[_step(s, load_started_at) for s in feed.drill.steps])


def run_state(runner_state: str | None) -> RunState:
    """What the board says of a Locust runner state (unknown or none: starting)."""
    return _RUNNER_STATES.get(runner_state or "", "starting")


def run_view(feed: BoardFeed | None, state: RunState, elapsed_s: float | None, totals: LoadTotals) -> RunView:
    """The run's header line."""
    return RunView(
        run_id=feed.run_id if feed else None, profile=feed.profile if feed else None,
        command=feed.command if feed else None, state=state,
        elapsed_s=None if elapsed_s is None else round(elapsed_s, 1), duration_s=feed.duration_s if feed else None,
        requests=totals.requests, failures=totals.failures, throttled=totals.throttled,
    )
