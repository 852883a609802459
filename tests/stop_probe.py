"""Run one command as a terminal would, and tell afterwards which of its descendants outlived it.

    python tests/stop_probe.py [--inherit-sigint-ignored] -- dientap run smoke ...

The probe makes itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): every process the
command starts — in a session of its own or not, however deep — is re-parented to the probe
when its own parent dies, instead of to init. So after the command exits, the probe's
remaining descendants are exactly the processes the command left behind; walking the
process tree finds them without guessing by name.

The command runs in a process group of its own, like a terminal's foreground job, so the
test's ``killpg(SIGINT)`` is what a real Ctrl-C delivers. With ``--inherit-sigint-ignored``
the command starts with SIGINT ignored, as a background job of a non-interactive shell does.
Protocol on stdout, one JSON object per line: ``{"pid": P}`` when started;
``{"exit": CODE, "survivors": [...]}`` when the command has exited (CODE as a shell's ``$?``,
128 + N for a death by signal N; survivors as ``{"pid", "cmdline"}``). The probe then SIGKILLs the
survivors and reaps them, so a failing test still cleans up, and exits 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess  # the command under test, as an argument list  # nosec B404
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def descendants(root: int) -> list[int]:
    """Every live, non-zombie descendant of ``root``, read from /proc (breadth first)."""
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        states[int(entry)] = fields[0]
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], list(children.get(root, []))
    while queue:
        pid = queue.pop(0)
        if states.get(pid) != "Z":
            found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: stop_probe.py -- COMMAND...", file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}", file=sys.stderr)
        return 2
    if "--inherit-sigint-ignored" in argv[:argv.index("--")]:
        # A background job of a non-interactive shell (`make test &`, nohup) starts like this.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    proc = subprocess.Popen(command, process_group=0)  # nosec B603 - the test's own argv
    print(json.dumps({"pid": proc.pid}), flush=True)
    code = proc.wait()
    if code < 0:  # killed by a signal: report it as a shell's $? does (128 + signal number)
        code = 128 - code
    # Orphans are re-parented to us as their parents exit; a moment lets the kernel finish that.
    time.sleep(0.2)
    survivors = [{"pid": pid, "cmdline": cmdline(pid)} for pid in descendants(os.getpid())]
    print(json.dumps({"exit": code, "survivors": survivors}), flush=True)
    for item in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(item["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, 0)[0] == 0:
                break
        except ChildProcessError:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
