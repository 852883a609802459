"""The live national board end to end: a real ``dientap drill`` on the embedded mocks (mocks,
Locust and the board as real processes on loopback) watched by a real headless Chromium.

The drill takes the portal's worklists (``GET /dossiers``) down for Hà Nội only, from 20 s
into the load until 2 s before its end: a cell is judged on the run's figures so far, so it
turns red only once enough of Hà Nội's worklist requests have failed, and a long window keeps
that inside the step on a loaded machine (about 8 s after the step began with four busy loops
beside the test; the earlier 25 s window was once missed in a full suite run).

The page must load with its 34 rows, update in place (no reload: the same tab is watched
throughout), show Hà Nội's *Status sync* cell not red while the drill's own timeline on the
page still says the step is planned, then red once it is in force — and no other province's.
Order is read from the board itself, never from a clock. Throughout: no console error and no
request to anything but the board's own origin. When the run ends, the board's port is closed.
"""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, Chromium
from tests.conftest import TEST_POPULATION

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/install-system-tools installs it)"),
]

ROOT = Path(__file__).resolve().parents[2]
PROVINCE, CHECK = "01", "status_sync"
STEP = "Hà Nội worklists down"
DRILL = f"""\
title: Worklists down in Hà Nội (the live board's end-to-end test)
profile: smoke
duration_s: 60
steady_state_hypothesis: {{probes: []}}
method:
  - name: {STEP}
    backend: http
    target: portal
    at_s: 20
    duration_s: 38
    http: {{kind: outage, route: /dossiers, method: GET, province: "{PROVINCE}"}}
rollbacks: [clear_http_faults]
"""
# What the test reads of the page: rows drawn, each province's cell of CHECK, the step's state.
PAGE = f"""(() => ({{
  rows: document.querySelectorAll("#matrix-rows tr[data-province]").length,
  cells: Object.fromEntries([...document.querySelectorAll('#matrix-rows td[data-check="{CHECK}"]')]
           .map((td) => [td.parentElement.dataset.province, td.className])),
  step: (document.querySelector("#drill-steps tr[data-step]") || {{dataset: {{}}}}).dataset.state || null,
  state: (document.getElementById("state") || {{}}).textContent || null,
}}))()"""
URL_LINE = re.compile(r"^live board: (http://127\.0\.0\.1:(\d+)/)  \(refreshes every 1 s; stops with the run\)$")


def _lines(proc: subprocess.Popen[str], into: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        into.put(line.rstrip("\n"))


def _wait(predicate: Any, timeout_s: float, what: str, seen: list[Any], interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}; last seen: {seen[-8:]}")


def test_a_real_drill_turns_its_provinces_cell_red_on_the_live_board_in_a_real_browser(tmp_path):
    drill = tmp_path / "board-outage.yaml"
    drill.write_text(DRILL, encoding="utf-8")
    command = [sys.executable, "-m", "dientap.cli", "drill", str(drill), "--population-size", str(TEST_POPULATION),
               "--out", str(tmp_path / "runs"), "--board", "0", "--board-refresh", "1", "--settle", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    printed: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc, printed), daemon=True).start()
    seen: list[str] = []

    def url_line() -> re.Match[str] | None:
        while not printed.empty():
            seen.append(printed.get())
            if match := URL_LINE.match(seen[-1]):
                return match
        assert proc.poll() is None, "\n".join(seen)
        return None

    try:
        match = _wait(url_line, 180, "the board's URL line", seen)
        url, port = match.group(1), int(match.group(2))
        snapshots: list[dict[str, Any]] = []
        with Chromium(tmp_path / "chromium", width=1920, height=1250) as browser:
            browser.navigate(url)

            def look() -> dict[str, Any]:
                snapshots.append(browser.evaluate(PAGE))
                return snapshots[-1]

            _wait(lambda: look()["rows"] == 34, 120, "the matrix's 34 rows", snapshots)
            red = _wait(lambda: (s := look())["step"] == "active" and "red" in s["cells"][PROVINCE].split() and s,
                        180, f"{PROVINCE}'s {CHECK} cell to turn red while the outage is in force", snapshots)
            during = browser.console_problems()
            assert during == [], during
            assert [code for code, css in red["cells"].items() if "red" in css.split()] == [PROVINCE]
            before = [s for s in snapshots if s["rows"] == 34 and s["step"] == "planned"]
            assert before, "the page was never seen before the outage (the drill starts it 20 s into the load)"
            assert all("red" not in s["cells"][PROVINCE].split() for s in before), before
            assert proc.wait(timeout=240) == 0, "\n".join(seen)
            origin = url.rstrip("/")
            fetched = browser.requested_urls()
            assert f"{origin}/board.json" in fetched
            assert [u for u in fetched if not (u.startswith(origin + "/") or u.startswith("data:"))] == []
            # Once the run is over the page may find the board gone (and say so); nothing else.
            after = [p for p in browser.console_problems() if "board.json" not in p]
            assert after == [], after
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    while not printed.empty():
        seen.append(printed.get())
    first_progress = next(i for i, line in enumerate(seen) if line.startswith("["))
    assert any(URL_LINE.match(line) for line in seen[:first_progress]), "the URL is printed before the progress lines"
    assert seen[-1] == "drill board-outage: PASS"
    with pytest.raises(OSError):  # the board stopped with the run
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
