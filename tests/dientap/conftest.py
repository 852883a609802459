"""Fixtures of the CLI tests: the real ``dientap`` command line, watched by an audit hook."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

# Runs in a fresh interpreter: a PEP 578 audit hook notes every process the CLI would
# start and every socket it would bind or connect, then each command line goes through
# the real `dientap.cli.main` (in-process, only for commands that must not start anything).
# The last entry is a control: it binds a socket and starts a process, so a hook that
# saw nothing is proven to have been watching.
_AUDITED_RUNNER = r"""
import contextlib, io, json, os, socket, subprocess, sys, traceback

WATCHED = ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system", "socket.bind", "socket.connect")
events = []
sys.addaudithook(lambda event, args: events.append(event) if event in WATCHED else None)

from dientap.cli import main

results = []
for argv in [*json.loads(sys.argv[1]), None]:
    events.clear()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if argv is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            code = 0
        else:
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
            except Exception:  # what the interpreter would do with it: a traceback, exit 1
                traceback.print_exc()
                code = 1
    results.append({"code": int(code or 0), "out": out.getvalue(), "err": err.getvalue(),
                    "events": sorted(set(events)), "files": sorted(os.listdir("."))})
sys.stdout.write(json.dumps(results))
"""


@dataclass(frozen=True)
class AuditedRun:
    """What one command line did: exit code, output, and what it started or opened."""

    code: int
    out: str
    err: str
    events: list[str]  # audit events seen: processes started, sockets bound or connected
    files: list[str]  # what the working directory held afterwards

    def assert_refused_before_start(self, code: int, says: list[str], files: list[str]) -> None:
        """One ``ERROR:`` line holding each of ``says``, exit ``code``, nothing on stdout, no
        traceback, no process or socket, and the working directory left holding ``files``."""
        lines = self.err.strip().splitlines()
        assert self.code == code, self
        assert len(lines) == 1 and lines[0].startswith("ERROR: "), self.err
        for part in says:
            assert part in lines[0], (part, lines[0])
        assert "Traceback" not in self.err and self.out == ""
        assert self.events == [], f"started or opened {self.events} before refusing"
        assert self.files == files, f"left {sorted(set(self.files) - set(files))} in the working directory"


@pytest.fixture(scope="session")
def run_audited(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[AuditedRun]]:
    """``run_audited([argv, ...], cwd=None)`` → one :class:`AuditedRun` per command line.

    All command lines run one after another in one fresh process whose working directory
    is ``cwd`` (default: a new empty folder); the fixture checks that the audit hook saw
    the control's socket and process, so an empty ``events`` list means the command
    really started nothing.
    """

    def run(argvs: Sequence[Sequence[str]], cwd: Path | None = None) -> list[AuditedRun]:
        work = cwd or tmp_path_factory.mktemp("audited-cwd")
        done = subprocess.run([sys.executable, "-c", _AUDITED_RUNNER, json.dumps([list(a) for a in argvs])],
                              capture_output=True, text=True, cwd=work, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        *runs, control = [AuditedRun(**r) for r in json.loads(done.stdout)]
        assert {"socket.bind", "subprocess.Popen"} <= set(control.events), control
        return runs

    return run
