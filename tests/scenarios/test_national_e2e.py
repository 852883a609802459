"""The national profile for 45 seconds on this one machine, against mocks a team starts
itself (issues #14, #18).

The 10-minute run at full national size is a benchmark (``bench/national.py``, BENCHMARKS.md);
this is its short version: the national profile as shipped, but at a quarter of its size
(``--scale 0.25``: two officers in every one of the 3,321 communes, a quarter of the citizens)
and with its 120-s login storm compressed into 30 s (written into a copy of the profile), so
that every commune has an officer at work for the last 15 s. (A 40-s run passed too: the
storm ended on time at 30.0 s with 87 ms of scheduling lag at most; the 15 s are margin.)

At national size, before #18, the harness tripped the portal's defences against itself: 401s
for officers the portal did not hold, a stuffing detector that saw one address sign in as
the whole country, then lockouts. The target's own counters are the judge here: the mocks
outlive the run, and their ``/metrics`` count every sign-in answer by status class. The run
itself must fail nothing, reach every commune and province, and its generator's verdict must
agree with its own limits.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from kernel.defaults import GC_PAUSE_LIMIT_MS, SCHEDULE_LAG_MAX_LIMIT_MS
from kernel.source_addresses import commune_source
from scenarios.lag import TrustLimits
from scenarios.profile import PROFILES_DIR
from tests.support import team_mocks

pytestmark = [pytest.mark.e2e, pytest.mark.saturating]

OFFICERS_PER_COMMUNE = 8  # national.yaml at scale 1: the mocks hold every account any scale signs in
POPULATION = 20_000
SCALE = 0.25


def _short_national(tmp_path: Path) -> Path:
    """national.yaml with its login storm in 30 s instead of 120 s; everything else as shipped."""
    profile = yaml.safe_load((PROFILES_DIR / "national.yaml").read_text(encoding="utf-8"))
    profile["officers"]["login_window_s"] = 30
    path = tmp_path / "national-short.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    return path


_SIGN_INS = re.compile(r'dientap_mock_requests_total\{method="POST",route="/auth/token",service="(\w+)",'
                       r'status_class="(\dxx)"\} (\d+)')


def _sign_in_answers(url: str) -> dict[tuple[str, str], int]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(m[1], m[2]): int(float(m[3])) for m in _SIGN_INS.finditer(text)}


def test_the_national_run_fails_nothing_reaches_every_commune_and_trips_no_defence(tmp_path):
    # What a team runs: `dientap mocks --officers-per-commune 8`, then `dientap run national --target`.
    with team_mocks(tmp_path, population=POPULATION, officers_per_commune=OFFICERS_PER_COMMUNE) as (
        cluster, admin_token, targets,
    ):
        done = subprocess.run(
            [sys.executable, "-m", "dientap.cli", "run", str(_short_national(tmp_path)), "--scale", str(SCALE),
             "--duration", "45",
             "--workers", "2", "--target", str(targets), "--population-size", str(POPULATION),
             "--out", str(tmp_path / "runs"), "--no-board"],
            capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
            env={**os.environ, "DIENTAP_ADMIN_TOKEN": admin_token},
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # Every kind of account checked before the load, in 3,321 communes and 34 provinces.
        assert "accounts: the target holds all 6,710 " in done.stdout
        answers = {}
        for url in cluster.urls.values():
            answers.update(_sign_in_answers(url))
        peers = httpx.get(f"{cluster.urls['portal']}/admin/peers", timeout=30,
                          headers={"Authorization": f"Bearer {admin_token}"}).json()

    # No sign-in of the harness's own accounts was refused, throttled or locked, on any
    # system: not one 4xx (401 unknown account, 423 locked, 429 throttled) nor 5xx.
    assert answers[("portal", "2xx")] > 3321 and answers[("axis", "2xx")] > 3321, answers
    refused = {key: n for key, n in answers.items() if key[1] != "2xx" and n}
    assert refused == {}, refused
    # The portal saw 3,321 offices, each from its own address — not one generator.
    assert peers["communes_seen"] == peers["distinct_addresses"] == 3321
    assert all(seen["addresses"] == [commune_source(code)] for code, seen in peers["communes"].items())
    summary = json.loads((tmp_path / "runs" / "latest" / "summary.json").read_text())
    assert summary["requests"]["total"] > 0 and summary["requests"]["failed"] == 0, summary["requests"]
    assert summary["communes"]["active"] == 3321
    assert sum(1 for p in summary["provinces"] if p["communes_active"]) == 34
    sign_ins = [e for e in summary["endpoints"] if e["name"] == "POST /auth/token"]
    assert sign_ins and all(e["failures"] == 0 for e in sign_ins), sign_ins
    assert summary["requests"]["throttled"] == 0
    # The generator's verdict agrees with its own documented limits: a stall past one of
    # them distrusts the run and is named; no named problem, no distrust.
    generator = summary["generator"]
    stalls = {
        "scheduling lag": generator["max_schedule_lag_ms"] > SCHEDULE_LAG_MAX_LIMIT_MS
        or generator["schedule_lag_p99_ms"] > TrustLimits().lag_p99_ms,
        "GC pause": (generator["gc_steady_max_pause_ms"] or 0) > GC_PAUSE_LIMIT_MS,
    }
    problems = [reason for reason in generator["reasons"] if not reason.startswith("note:")]
    assert generator["trustworthy"] == (not problems), generator
    for name, over in stalls.items():
        assert not over or any(name in reason for reason in problems), (name, generator)
