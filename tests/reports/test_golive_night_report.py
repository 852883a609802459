"""The go-live-night section of the report, read from the drill result only."""

from __future__ import annotations

from reports.drill_result import DrillResult, FaultWindow, ReconciliationRow
from reports.golive_night import cutover_view


def _result(*, with_cutover: bool = True) -> DrillResult:
    faults = [FaultWindow(name="old tier at work", kind="district_dossiers", target="portal", start_offset_s=1.0,
                          end_offset_s=18.0, detail={"sent": 10})]
    if with_cutover:
        faults.append(FaultWindow(name="cut-over", kind="district_cutover", target="portal", start_offset_s=9.0,
                                  end_offset_s=13.0, detail={"backend": "traffic", "migrated": 12, "batches": 3,
                                                             "province_79": 5, "province_01": 7}))
    row = ReconciliationRow(item_kind="migrated_dossiers", ok=10, lost=1, duplicated=1, unexpected=0, recovered=0,
                            lost_ids=["90101-250630-000003"], duplicated_ids=["90101-250630-000007"])
    return DrillResult(name="golive-night", title="t", verdict="FAIL", faults=faults, reconciliation=[row])


def test_the_view_shows_the_cut_over_per_province_and_names_the_misplaced_dossiers() -> None:
    view = cutover_view(_result())
    assert view is not None
    assert (view.start_offset_s, view.end_offset_s, view.batches, view.landed) == (9.0, 13.0, 3, 10)
    assert view.per_province == [("01", "Thành phố Hà Nội", 7), ("79", "Thành phố Hồ Chí Minh", 5)]
    assert view.lost_ids == ["90101-250630-000003"] and view.duplicated_ids == ["90101-250630-000007"]


def test_no_view_without_a_cut_over() -> None:
    assert cutover_view(_result(with_cutover=False)) is None
    assert cutover_view(None) is None
