"""The go-live-night section of a drill report: the cut-over per province, and the
migrated dossiers the reconciliation could not place (lost) or found twice (duplicated).

Read from the journal only: the cut-over step's figures (``province_PP`` in its fault
window's detail, written by the drill) and the ``migrated_dossiers`` reconciliation row.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.roster import load_roster
from reports.drill_result import DrillResult

__all__ = ["CutoverView", "cutover_view"]

CUTOVER_KIND = "district_cutover"
MIGRATED_KIND = "migrated_dossiers"


@dataclass(frozen=True)
class CutoverView:
    """What the report shows of a go-live night."""

    start_offset_s: float
    end_offset_s: float | None
    batches: int
    per_province: list[tuple[str, str, int]]  # (code, name, dossiers migrated)
    landed: int | None  # found in exactly one successor worklist (None: not reconciled)
    lost_ids: list[str]
    duplicated_ids: list[str]


def cutover_view(drill: DrillResult | None) -> CutoverView | None:
    """The view of the drill's cut-over, or ``None`` when the drill had none."""
    if drill is None:
        return None
    window = next((f for f in drill.faults if f.kind == CUTOVER_KIND), None)
    if window is None:
        return None
    roster = load_roster()
    per_province = []
    for key, value in sorted(window.detail.items()):
        if key.startswith("province_") and isinstance(value, int):
            code = key.removeprefix("province_")
            try:
                name = roster.province(code).name
            except KeyError:
                name = "?"
            per_province.append((code, name, value))
    row = next((r for r in drill.reconciliation if r.item_kind == MIGRATED_KIND), None)
    batches = window.detail.get("batches")
    return CutoverView(window.start_offset_s, window.end_offset_s, batches if isinstance(batches, int) else 0,
                       per_province, row.ok if row else None, list(row.lost_ids) if row else [],
                       list(row.duplicated_ids) if row else [])
