"""``dientap drill``'s closing lines name the lost, duplicated and unexpected items (bounded)."""

from __future__ import annotations

import pytest

from dientap.commands.drill_cmd import NAMED_ON_CONSOLE, _print_result
from reports.drill_result import DrillResult, ReconciliationRow


def test_the_console_names_the_items_reconciliation_could_not_account_for(capsys: pytest.CaptureFixture[str]) -> None:
    unexpected = [f"doc-{i:03d}" for i in range(NAMED_ON_CONSOLE + 3)]
    row = ReconciliationRow(item_kind="documents", ok=97, lost=2, duplicated=0, unexpected=len(unexpected), recovered=0,
                            lost_ids=["doc-17", "doc-42"], unexpected_ids=unexpected)
    _print_result(DrillResult(name="lossy-axis", title="Lossy axis", verdict="FAIL", reconciliation=[row]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == [
        "    lost 2: doc-17, doc-42",
        f"    unexpected {len(unexpected)} (first {NAMED_ON_CONSOLE} of {len(unexpected)}): "
        + ", ".join(unexpected[:NAMED_ON_CONSOLE]) + " …",
    ]
    assert lines[-1] == "drill lossy-axis: FAIL"
