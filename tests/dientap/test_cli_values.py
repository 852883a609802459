"""Bad flags get one ERROR: line naming flag, value and what is accepted — before anything starts."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dientap.commands.options import duration, non_negative_int, positive_float, positive_int, target
from reports.run_files import atomic_write_text


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("1h", 3600.0), ("2m30s", 150.0),
    ("2.5", 2.5), ("1h0m1s", 3601.0), (" 60s ", 60.0), ("5M", 300.0),
])
def test_durations_read_like_locust_and_k6(text, seconds):
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["-5", "0", "0s", "60x", "", "s", "1h-5m", "m5", "1.5m", "inf", "nan", "١٢", "１m"])
def test_a_bad_duration_says_what_is_accepted(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"give seconds \(90\) or h/m/s \(90s, 5m, 1h30m\)"):
        duration(text)


@pytest.mark.parametrize(("parse", "text"), [
    (positive_float, "0"), (positive_float, "-1"), (positive_float, "x"), (positive_float, "inf"), (positive_float, "nan"),
    (non_negative_int, "-1"), (non_negative_int, "1.5"), (positive_int, "0"), (positive_int, "many"),
    (non_negative_int, "１"), (positive_int, "١٠٠"), (positive_float, "٠.٥"),  # digits of other scripts
])
def test_numbers_out_of_range_are_refused(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text).replace("(", r"\(")):
        parse(text)


def test_positive_int_takes_digit_groups():
    assert positive_int("100_000") == 100_000


@pytest.mark.parametrize("text", ["https://staging.example.vn", "http://127.0.0.1:8701", "HTTP://x"])
def test_a_url_is_not_a_target(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is a URL; give 'embedded' or a targets YAML file"):
        target(text)


def test_a_targets_file_and_embedded_pass_through():
    assert target("embedded") == "embedded"
    assert target("staging/targets.yaml") == "staging/targets.yaml"


def _dientap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dientap.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


@pytest.mark.parametrize(("args", "flag", "value"), [
    (("run", "smoke", "--duration", "-5"), "--duration", "-5"),
    (("run", "smoke", "--scale", "0"), "--scale", "0"),
    (("run", "smoke", "--workers", "-2"), "--workers", "-2"),
    (("run", "smoke", "--population-size", "0"), "--population-size", "0"),
    (("run", "smoke", "--target", "https://host"), "--target", "https://host"),
    (("drill", "population-outage", "--duration", "5x"), "--duration", "5x"),
    (("security", "--scale", "-1"), "--scale", "-1"),
    (("mocks", "--duration", "0"), "--duration", "0"),
    (("mocks", "--ports", "1,2"), "--ports", "1,2"),
    (("run", "smoke", "--no-such-flag"), "--no-such-flag", ""),
])
def test_every_bad_flag_is_one_error_line_and_nothing_starts(args, flag, value, tmp_path):
    result = _dientap(*args, "--out" if args[0] != "mocks" else "--data-dir", str(tmp_path / "out"), cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
    assert flag in lines[0] and value in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "out").exists()  # no run directory, no mocks' data: nothing started


def test_a_closed_pipe_ends_the_listing_quietly(tmp_path):
    """`dientap security --list | head`: the reader leaves early; no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "dientap.cli", "security", "--list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes a byte: every write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_run_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    """summary.json, journal.json, report.html, gate.json are written like any file the user writes."""
    code = (f"import os; os.umask({umask:#o}); from reports.run_files import atomic_write_text; "
            f"atomic_write_text({str(tmp_path / 'summary.json')!r}, '{{}}')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=Path(__file__).parents[2])
    assert stat.S_IMODE(os.stat(tmp_path / "summary.json").st_mode) == mode


def test_atomic_write_replaces_the_whole_file(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "journal.json", "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second" and [p.name for p in path.parent.iterdir()] == ["journal.json"]


@pytest.mark.parametrize(("argv", "says"), [
    (["--protocol", "axis=c06-soap"], "argument --protocol: 'axis=c06-soap' is not SERVICE=SHAPE; give one of "
                                      "portal=native|dvcqg-adapter; population=native|c06-soap; axis=native|vdxp"),
    (["--protocol", "population"], "argument --protocol: 'population' is not SERVICE=SHAPE"),
    (["--target", "targets.yaml", "--mocks-tls"], "argument --mocks-tls: only with the embedded mocks"),
    (["--target", "targets.yaml", "--protocol", "portal=dvcqg-adapter"], "argument --protocol: only with the embedded"),
])
def test_the_embedded_mocks_shape_and_tls_flags_are_refused_in_one_line(tmp_path, argv, says):
    (tmp_path / "targets.yaml").write_text(
        "portal: {base_url: 'http://127.0.0.1:1'}\npopulation: {base_url: 'http://127.0.0.1:2'}\n"
        "axis: {base_url: 'http://127.0.0.1:3'}\n")
    done = _dientap("run", "smoke", *argv, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("ERROR: ") and says in lines[0], done.stderr
    assert not (tmp_path / "runs").exists()


def test_mocks_client_auth_without_tls_is_refused_in_one_line(tmp_path):
    done = _dientap("mocks", "--client-auth", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines == ["ERROR: argument --client-auth: mutual TLS needs TLS; add --tls-dir DIR"], done
    assert not (tmp_path / "data").exists()
