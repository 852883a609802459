"""A journal whose names or times are hostile or damaged still renders report.html, or is
refused naming the file and field: never a traceback from the charts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import ConfigError
from reports.charts import MAX_LABEL_CHARS
from reports.html import REPORT_FILE, render_report
from reports.journal import JournalEvent
from reports.run_files import load_journal, write_journal

# Dollar signs pairing up as mathtext, one of them with a command matplotlib does not know.
TEX_NAME = r"GET /a$\foo{$b"


def test_names_holding_dollar_signs_are_drawn_as_text_in_the_charts(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    journal = load_journal(run_dir)
    first, *rest = journal.timeseries.series
    series = [first.model_copy(update={"endpoint": TEX_NAME, "service": "$x$"}), *rest]
    fault = JournalEvent(t=journal.provenance.started_at, offset_s=1.0, kind="fault_start", name=r"$\frac$ axis")
    write_journal(run_dir, journal.model_copy(update={
        "timeseries": journal.timeseries.model_copy(update={"series": series}), "events": [*journal.events, fault]}))
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert "$x$ GET /a$\\foo{$b" in html  # the latency chart's legend, as recorded
    assert "$\\frac$ axis" in html  # the fault's marker


def _svg_widths(html: str) -> list[float]:
    return [float(w) for w in re.findall(r'<svg [^>]*width="([0-9.]+)pt"', html)]


def test_a_very_long_name_does_not_stretch_the_charts(fixture_run) -> None:
    run_dir = fixture_run("healthy")
    plain = _svg_widths(render_report(run_dir).read_text(encoding="utf-8"))
    journal = load_journal(run_dir)
    first, *rest = journal.timeseries.series
    long_name = "GET /" + "x" * 10_000
    fault = JournalEvent(t=journal.provenance.started_at, offset_s=1.0, kind="fault_start", name=long_name)
    write_journal(run_dir, journal.model_copy(update={
        "timeseries": journal.timeseries.model_copy(update={"series": [first.model_copy(update={"endpoint": long_name}),
                                                                       *rest]}),
        "events": [*journal.events, fault]}))
    html = render_report(run_dir).read_text(encoding="utf-8")
    widths = _svg_widths(html)
    assert len(widths) == len(plain) == 2
    assert all(w < 1.5 * p for w, p in zip(widths, plain, strict=True))  # was 40 times as wide: the plot a sliver
    assert f"{first.service} GET /{'x' * (MAX_LABEL_CHARS - len(first.service) - 7)}…" in html  # cut, and says so
    assert long_name in html  # the timeline names it whole


def _edit_journal(run_dir: Path, edit: Any, value: str) -> Path:
    """Set a journal field to ``value`` written as raw JSON (a number json.dumps would not write)."""
    path = run_dir / "journal.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data).replace('"__DAMAGED__"', value), encoding="utf-8")
    return path


def _fault(kind: str, offset_s: object) -> dict[str, Any]:
    return {"t": "2026-06-30T07:00:00Z", "offset_s": offset_s, "kind": kind, "name": "axis partition"}


def _first_sample(data: dict[str, Any]) -> dict[str, Any]:
    sample: dict[str, Any] = data["timeseries"]["series"][0]["samples"][0]
    return sample


@pytest.mark.parametrize(("edit", "value", "field", "says"), [
    # 5e-324 s buckets: the run's length over the bucket width overflowed to infinity.
    (lambda d: d["timeseries"].__setitem__("bucket_s", "__DAMAGED__"), "5e-324", "timeseries.bucket_s",
     "Input should be greater than or equal to 0.001"),
    # Finite, so not refused as an infinity: matplotlib raised drawing a fault from -1e308 to 1e308.
    (lambda d: d["events"].extend([_fault("fault_start", "__DAMAGED__"), _fault("fault_stop", 1e308)]), "-1e308",
     "events[4].offset_s", "Input should be greater than or equal to -1000000000"),
    (lambda d: _first_sample(d).__setitem__("offset_s", "__DAMAGED__"), "1e308", "timeseries.series[0].samples[0].offset_s",
     "Input should be less than or equal to 1000000000"),
], ids=["bucket", "event", "sample"])
def test_times_no_run_holds_are_refused_naming_the_field(fixture_run, edit: Any, value: str, field: str, says: str) -> None:
    run_dir = fixture_run("healthy")
    path = _edit_journal(run_dir, edit, value)
    with pytest.raises(ConfigError) as exc:
        render_report(run_dir)
    assert str(exc.value.problems[0]) == f"{path}: {field}: {says}"
    assert not (run_dir / REPORT_FILE).exists()
