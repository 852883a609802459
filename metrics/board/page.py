"""The live board's page: one HTML document with its CSS and script inline, no external
asset, so it works on a machine with no network (the rehearsal room's).

It wears the report's look (:data:`reports.html.REPORT_CSS`, the report's legend and matrix
markup: ``<tr data-province="04" data-ready="no">``, ``<td class="cell red"
data-check="sign_in">``), and fetches ``board.json`` (:mod:`metrics.board.snapshot`) from its
own origin every ``data-refresh-s`` seconds. The script builds every element with
``textContent`` — no figure or name is ever parsed as HTML — and the server sends a
Content-Security-Policy that allows this one script and style (by hash) and fetches from
its own origin only: a page edited to load anything else is blocked by the browser itself.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Final

from reports.html import REPORT_CSS, readiness_legend
from reports.readiness import ReadinessThresholds
from reports.summary import READINESS_CHECKS

__all__ = ["PAGE_CSP", "render_page"]

BOARD_CSS: Final = """
body{max-width:none;margin:1rem 1.25rem}h2{margin:1rem 0 .4rem}
.legend{font-size:.8rem}
.board{display:grid;grid-template-columns:max-content minmax(24rem,1fr);gap:1.25rem;align-items:start}
@media (max-width:1700px){.board{grid-template-columns:minmax(0,1fr)}}
.board table{font-size:.8rem;margin:0}.board th,.board td{padding:.12rem .4rem}
.matrix .cell{min-width:6.6rem}.matrix td:first-child{white-space:nowrap}.matrix small{color:#555;margin-left:.4rem}
aside table{width:100%}aside td.num{white-space:nowrap}aside h2:first-child{margin-top:0}
.state{display:inline-block;padding:.05rem .5rem;border-radius:3px;font-weight:600;margin-right:.4rem}
.state-running{background:#c8e6c9}.state-starting,.state-stopping{background:#ffe0a3}
.state-over{background:#e6e6e6}.state-offline{background:#f8b4b4}
.track{position:relative;height:.9rem;background:#f1f1f1;border-radius:3px;min-width:9rem}
.bar{position:absolute;top:0;bottom:0;border-radius:3px;min-width:2px}
.bar.planned{background:#cfd8dc}.bar.active{background:#c62828}.bar.over{background:#78909c}
.now{position:absolute;top:-3px;bottom:-3px;width:2px;background:#1b1b1b}
.step-planned{color:#555}.step-active{color:#c62828;font-weight:700}.step-over{color:#1b1b1b}
"""

# The script draws board.json; it never builds HTML from text (see the module docstring).
BOARD_JS: Final = r"""
(() => {
  "use strict";
  const refreshMs = Math.max(500, 1000 * Number(document.body.dataset.refreshS || 3));
  const byId = (id) => document.getElementById(id);
  const number = new Intl.NumberFormat("en-US");
  const STATE_TEXT = {starting: "starting", running: "live", stopping: "stopping", over: "run over",
                      offline: "offline"};
  let misses = 0;
  let lastState = "starting";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value; else node.setAttribute(name, value);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const seconds = (v) => (v === null || v === undefined ? "—" : v.toFixed(1));
  const percent = (part, whole) => (whole ? (100 * part / whole).toFixed(2) + " %" : "—");

  function showState(state, note) {
    const badge = byId("state");
    badge.className = "state state-" + state;
    badge.textContent = STATE_TEXT[state] || state;
    if (note) byId("run-meta").textContent = note;
  }

  function drawRun(board) {
    const run = board.run;
    byId("run-id").textContent = run.run_id ? "run " + run.run_id : "";
    const parts = [];
    if (run.profile) parts.push((run.command === "drill" ? "drill · " : "") + "profile " + run.profile);
    if (run.elapsed_s !== null) {
      parts.push(run.elapsed_s.toFixed(0) + (run.duration_s ? " / " + run.duration_s.toFixed(0) : "") + " s");
    }
    parts.push(number.format(run.requests) + " requests, " + number.format(run.failures) + " failed ("
               + percent(run.failures, run.requests) + "), " + number.format(run.throttled)
               + " throttled by the target (" + percent(run.throttled, run.requests) + ")");
    parts.push("updated " + new Date(board.generated_at * 1000).toLocaleTimeString("en-GB"));
    parts.push("refreshes every " + board.refresh_s + " s");
    showState(run.state, parts.join(" · "));
  }

  function drawMatrix(matrix) {
    byId("ready-count").textContent = matrix.ready_count + "/" + matrix.total;
    byId("not-proven-count").textContent = matrix.not_proven;
    byId("throttled-count").textContent = matrix.throttled;
    byId("proven-cells").textContent = matrix.proven_cells + "/" + matrix.total_cells;
    byId("matrix-rows").replaceChildren(...matrix.rows.map((row) => {
      const tr = el("tr", {"data-province": row.code, "data-ready": row.ready});
      const name = el("td", {}, row.code + " " + row.name);
      name.append(el("small", {"title": "communes on line"},
                     number.format(row.communes_active) + "/" + number.format(row.communes_total)));
      tr.append(name);
      for (const cell of row.cells) {
        tr.append(el("td", {"class": "cell " + cell.color, "data-check": cell.check, "title": cell.reason}, cell.text));
      }
      const ready = el("td", {"class": "cell " + row.ready_color}, row.ready_text);
      if (row.throttled_text) ready.append(el("small", {"class": "throttled"}, row.throttled_text + " by the target"));
      tr.append(ready);
      return tr;
    }));
  }

  function track(step, duration, elapsed) {
    const box = el("div", {"class": "track"});
    if (!duration) return box;
    const bar = el("span", {"class": "bar " + step.state});
    const start = step.started_s !== null ? step.started_s : step.at_s;
    const end = step.stopped_s !== null ? step.stopped_s : Math.max(step.end_s, start);
    bar.style.left = Math.min(100, 100 * start / duration) + "%";
    bar.style.width = Math.max(0, Math.min(100, 100 * end / duration) - Math.min(100, 100 * start / duration)) + "%";
    box.append(bar);
    if (elapsed !== null) {
      const now = el("span", {"class": "now"});
      now.style.left = Math.min(100, 100 * elapsed / duration) + "%";
      box.append(now);
    }
    return box;
  }

  function drawDrill(board) {
    const body = byId("drill-body");
    const drill = board.drill;
    if (!drill) {
      body.replaceChildren(el("p", {"class": "meta"}, "No drill in this run."));
      return;
    }
    const head = el("tr");
    for (const title of ["Step", "Planned s", "Actual s", "Timeline", "State"]) head.append(el("th", {}, title));
    const rows = drill.steps.map((step) => {
      const tr = el("tr", {"data-step": step.name, "data-state": step.state});
      const name = el("td", {}, step.name);
      name.append(el("br"), el("small", {"class": "meta"}, step.backend + " " + step.kind + " → " + step.target));
      const line = el("td");
      line.append(track(step, board.run.duration_s, board.run.elapsed_s));
      tr.append(name, el("td", {"class": "num"}, seconds(step.at_s) + "–" + seconds(step.end_s)),
                el("td", {"class": "num"}, seconds(step.started_s) + "–" + seconds(step.stopped_s)),
                line, el("td", {"class": "step-" + step.state}, step.state === "active" ? "in force" : step.state));
      return tr;
    });
    const table = el("table", {"id": "drill-steps"});
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    tbody.append(...rows);
    table.append(thead, tbody);
    body.replaceChildren(el("p", {}, drill.name + " — " + drill.title), table);
  }

  function drawCommunes(communes) {
    byId("communes-meta").textContent = number.format(communes.active) + " of " + number.format(communes.total)
      + " communes on line, " + number.format(communes.with_failures) + " with failures, "
      + number.format(communes.with_p95) + " with a p95 (at least " + number.format(communes.min_latency_samples)
      + " requests). Worst first: error rate, failures, then p95.";
    const rows = communes.worst.map((c) => {
      const tr = el("tr", {"data-commune": c.code});
      tr.append(el("td", {}, c.code), el("td", {}, c.name), el("td", {}, c.province_code),
                el("td", {"class": "num"}, number.format(c.requests)), el("td", {"class": "num"}, number.format(c.failures)),
                el("td", {"class": "num"}, percent(c.failures, c.requests)),
                el("td", {"class": "num"}, c.p95_text));
      return tr;
    });
    if (!rows.length) {
      const empty = el("tr");
      empty.append(el("td", {"colspan": "7", "class": "meta"}, "No commune on line yet."));
      rows.push(empty);
    }
    byId("commune-rows").replaceChildren(...rows);
  }

  async function refresh() {
    try {
      const response = await fetch("board.json", {cache: "no-store"});
      if (!response.ok) throw new Error("board.json: HTTP " + response.status);
      const board = await response.json();
      misses = 0;
      lastState = board.run.state;
      drawRun(board);
      drawMatrix(board.matrix);
      drawDrill(board);
      drawCommunes(board.communes);
    } catch (err) {
      misses += 1;
      const ended = lastState === "stopping" || lastState === "over";
      showState(ended ? "over" : "offline", ended
        ? "The run is over and the board stopped with it; report.html is in the run directory."
        : "The board does not answer (" + err.message + "); retrying.");
      if (ended || misses >= 5) return;
    }
    if (lastState !== "over") setTimeout(refresh, refreshMs);
  }
  refresh();
})();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


_STYLE = REPORT_CSS + BOARD_CSS

# Only this page's own script and style run, and it may fetch only from its own origin.
PAGE_CSP: Final = (f"default-src 'none'; script-src {_sha256(BOARD_JS)}; style-src {_sha256(_STYLE)}; "
                   "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def render_page(refresh_s: float, thresholds: ReadinessThresholds | None = None) -> str:
    """The whole page; its figures arrive from ``board.json`` once the script runs."""
    legend = readiness_legend(thresholds or ReadinessThresholds())
    heads = "".join(f'<th data-check="{escape(check)}">{escape(label)}</th>' for check, label in READINESS_CHECKS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>dientap live national board</title><style>{_STYLE}</style></head>
<body data-refresh-s="{refresh_s:g}">
<h1>Live national board <span class="meta" id="run-id"></span></h1>
<p class="meta"><span class="state state-starting" id="state">connecting</span><span id="run-meta"></span></p>
<h2 id="readiness">Readiness</h2>
<p><span class="ready-count" id="ready-count">–</span> provinces ready · <span id="not-proven-count">–</span> not proven ·
<span id="throttled-count">–</span> throttled by the target ·
<span id="proven-cells">–</span> checks proven — the whole run so far, judged as report.html will judge it.</p>
{legend}
<div class="board">
<section>
<table class="matrix"><thead><tr><th>Province <small>communes on line</small></th>{heads}<th>Ready</th></tr></thead>
<tbody id="matrix-rows"></tbody></table>
</section>
<aside>
<h2 id="drill">Drill timeline</h2>
<div id="drill-body"><p class="meta">No drill in this run.</p></div>
<h2 id="communes">Worst communes</h2>
<p class="meta" id="communes-meta"></p>
<table><thead><tr><th>Commune</th><th>Name</th><th>Province</th><th>Requests</th><th>Failures</th><th>Errors</th>
<th>p95 ms</th></tr></thead><tbody id="commune-rows"></tbody></table>
</aside>
</div>
<script>{BOARD_JS}</script>
</body></html>
"""
