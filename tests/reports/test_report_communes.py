"""The communes table: a p95 per commune from its sketch, "too few" below the minimum
sample count, worst first (error rate, failures, p95), in summary.json, the HTML report
and the Markdown summary — built from the run's records only."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.commune_latency import dump_commune_latency, new_commune_sketch
from kernel.defaults import COMMUNE_P95_MIN_SAMPLES
from kernel.errors import ConfigError
from kernel.hdr import SparseHistogram
from kernel.latency_records import dump_histograms
from kernel.roster import load_roster
from reports.html import render_html
from reports.load_record import CommuneCounts, LoadRecord, write_load_record
from reports.markdown import markdown_for
from reports.readiness import readiness_matrix
from reports.summary import GeneratorHealth, Summary
from reports.summary_build import HISTOGRAMS_DIR, build_summary, summary_from_run_dir
from reports.verdict import RunData
from tests.reports.rpt_support import make_journal

ROSTER = load_roster()
A, B, C, D, E = (c.code for c in ROSTER.communes[:5])


def _sketch(*groups: tuple[int, float]) -> SparseHistogram:
    """``groups`` of (how many requests, taking ms)."""
    sketch = new_commune_sketch()
    for count, ms in groups:
        sketch.record(int(ms * 1000), count)
    return sketch


# commune: (requests, failures, sketch). A's p95 is its 95th of 100 requests: 20 ms.
COMMUNES = {
    A: (100, 0, _sketch((90, 10.0), (10, 20.0))),
    B: (50, 0, _sketch((50, 30.0))),
    C: (10, 0, _sketch((10, 500.0))),  # slowest, but too few requests for a p95
    D: (40, 4, _sketch((40, 5.0))),  # 10 % errors: worst whatever its latency
    E: (200, 4, _sketch((200, 5.0))),  # 2 % errors
}


def _record() -> LoadRecord:
    return LoadRecord(run_id="communes", profile="smoke", started_at=1000.0, ended_at=1060.0,
                      communes={code: CommuneCounts(requests=r, failures=f) for code, (r, f, _) in COMMUNES.items()},
                      generator=GeneratorHealth(trustworthy=True))


def _sketches() -> dict[str, SparseHistogram]:
    return {code: sketch for code, (_, _, sketch) in COMMUNES.items()}


def _summary(min_samples: int = COMMUNE_P95_MIN_SAMPLES) -> Summary:
    return build_summary(_record(), {}, ROSTER, _sketches(), min_samples)


def test_each_commune_gets_the_p95_of_its_sketch_within_one_percent() -> None:
    worst = {w.code: w for w in _summary().communes.worst}
    assert 20.0 <= worst[A].p95_ms <= 20.2 and 30.0 <= worst[B].p95_ms <= 30.3 and 5.0 <= worst[D].p95_ms <= 5.05
    assert {code: w.latency_samples for code, w in worst.items()} == {code: r for code, (r, _, _) in COMMUNES.items()}


def test_below_the_minimum_sample_count_there_is_no_p95_and_the_count_says_why() -> None:
    summary = _summary()
    too_few = next(w for w in summary.communes.worst if w.code == C)
    assert (too_few.p95_ms, too_few.latency_samples) == (None, 10)
    assert (summary.communes.with_p95, summary.communes.min_latency_samples) == (4, COMMUNE_P95_MIN_SAMPLES)


def test_worst_first_by_error_rate_then_failures_then_p95_with_too_few_last() -> None:
    assert [w.code for w in _summary().communes.worst] == [D, E, B, A, C]
    # With a higher minimum B (50) and D (40) have no p95: D still leads on errors; B falls
    # behind A, which keeps its p95, and sorts with C by code.
    stricter = _summary(min_samples=60)
    assert [w.code for w in stricter.communes.worst] == [D, E, A, *sorted([B, C])]
    assert stricter.communes.with_p95 == 2


def _run(summary: Summary) -> RunData:
    return RunData(Path("."), make_journal(), summary, None, readiness_matrix(summary))


def _html_rows(html: str) -> list[str]:
    body = html.split('<h2 id="communes">', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.split("<tr>")[1:]


def test_the_html_table_shows_real_p95s_worst_first_and_too_few() -> None:
    summary = _summary()
    html = render_html(_run(summary))
    rows = _html_rows(html)
    assert [row.split("<td>", 2)[1].split("</td>")[0] for row in rows] == [D, E, B, A, C]
    b = next(w for w in summary.communes.worst if w.code == B)
    assert f'<td class="num">{b.p95_ms:,.1f}</td>' in rows[2]
    assert rows[4].endswith(f'<td class="num">too few (10 &lt; {COMMUNE_P95_MIN_SAMPLES})</td></tr>')
    assert f"4 with a p95 (at least {COMMUNE_P95_MIN_SAMPLES} requests" in html


def test_the_markdown_summary_lists_the_worst_communes_with_their_p95() -> None:
    md = markdown_for(_run(_summary()))
    rows = [line for line in md.splitlines() if line.startswith("| ") and line.split(" ")[1] in {A, B, C, D, E}]
    assert [row.split(" ")[1] for row in rows] == [D, E, B, A, C]
    assert rows[-1].endswith(rf"| 10 | 0.00 % | too few (10 \< {COMMUNE_P95_MIN_SAMPLES}) |")
    assert rows[0].split(" | ")[2:] == ["40", "10.00 %", "5.0 |"]


def _run_dir(tmp_path: Path, with_communes: bool = True) -> Path:
    run_dir = tmp_path / "run"
    write_load_record(run_dir, _record())
    dump_histograms({}, run_dir / HISTOGRAMS_DIR)
    if with_communes:
        dump_commune_latency(_sketches(), run_dir / HISTOGRAMS_DIR)
    return run_dir


def test_the_summary_is_rebuilt_from_the_run_directory_alone(tmp_path: Path) -> None:
    assert summary_from_run_dir(_run_dir(tmp_path), ROSTER) == _summary()


def test_a_run_recorded_before_communes_hdr_has_no_commune_p95(tmp_path: Path) -> None:
    summary = summary_from_run_dir(_run_dir(tmp_path, with_communes=False), ROSTER)
    assert all(w.p95_ms is None and w.latency_samples == 0 for w in summary.communes.worst)
    assert summary.communes.with_p95 == 0
    assert [w.code for w in summary.communes.worst][:2] == [D, E]  # failures still rank
    assert all(row.endswith('<td class="num">—</td></tr>') for row in _html_rows(render_html(_run(summary))))


def test_a_corrupt_communes_file_is_an_error_naming_it(tmp_path: Path) -> None:
    run_dir = _run_dir(tmp_path)
    path = run_dir / HISTOGRAMS_DIR / "communes.hdr"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("\t", "\tx")  # the first commune's line: its encoding damaged
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}:2: commune {A}: not an HdrHistogram V2 encoding"):
        summary_from_run_dir(run_dir, ROSTER)
