"""The ``dientap`` command line: help, docs, exit codes, and ``dientap mocks`` end to end."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dientap.cli import build_parser, main
from kernel.errors import ExitCode

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, object]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


def test_every_subcommand_has_help_with_an_example_and_is_in_the_readme():
    commands = _subcommands()
    assert {"run", "mocks", "gate", "report", "validate"} <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        assert "Example:" in text, f"`dientap {name} --help` has no Example:"
        assert f"dientap {name}" in README, f"README does not show `dientap {name}`"


def test_every_exit_code_is_documented():
    help_text = build_parser().format_help()
    for code in ExitCode:
        assert code.name in help_text
        assert f"| {code.value} | {code.name} |" in README


HEAVY = ("matplotlib", "httpx", "dientap.orchestration.mockcluster", "dientap.orchestration.dryrun", "reports.compare")


def test_parsing_the_command_line_loads_none_of_the_parts_a_command_runs_and_a_chart_loads_matplotlib():
    # Every command registers all of them, so a refused flag or `--version` paid for every
    # part: 1.76 s, of which matplotlib and what it pulls in were 0.8 s and the mock cluster,
    # httpx and the run readers most of the rest (now about 0.3 s). Each part loads when its
    # command runs; reports.charts imports matplotlib on the first chart.
    probe = (f"import sys; from dientap.cli import build_parser; import reports.charts; build_parser(); "
             f"print(*[m for m in {HEAVY!r} if m in sys.modules] or ['none']); reports.charts._figure(1, 1); "
             f"print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == ["none", "True"]


def test_no_command_prints_help_and_is_a_usage_error(capsys):
    assert main([]) == ExitCode.USAGE_ERROR
    assert "usage: dientap" in capsys.readouterr().out


def test_validate_reports_every_problem_with_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "readiness.yaml"
    bad.write_text('provinces:\n  "99": {connected: false}\n  "04": {catalog: false}\n')
    assert main(["validate", "--kind", "readiness", str(bad)]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"ERROR: {bad}:2: provinces.99: unknown province code '99'; codes are the 34 two-digit 2025 statistics codes",
        f"ERROR: {bad}:3: provinces.04.catalog: unknown key",
    ]


def test_validate_accepts_the_shipped_profiles(capsys):
    profiles = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "profiles").glob("*.yaml"))
    assert main(["validate", *map(str, profiles)]) == ExitCode.OK
    assert capsys.readouterr().out.count("OK ") == len(profiles)


@pytest.mark.e2e
def test_dientap_mocks_starts_all_three_prints_urls_and_stops_on_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "dientap.cli", "mocks", "--ports", "0,0,0", "--data-dir", str(tmp_path),
         "--population-size", "2000", "--admin-token", "t0ken", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 90
    while len(urls) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.match(r"(portal|population|axis)\s+(http://127\.0\.0\.1:\d+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
    try:
        assert set(urls) == {"portal", "population", "axis"}
        for url in urls.values():
            assert httpx.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
        ledger = httpx.get(f"{urls['portal']}/admin/ledger", headers={"Authorization": "Bearer t0ken"}, timeout=5)
        assert ledger.status_code == 200 and ledger.json()["service"] == "portal"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "mocks stopped." in out
    for url in urls.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=2)
