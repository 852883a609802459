"""kernel.stopping through real signals, in a process of its own for each behaviour.

Each scenario runs as a small Python program (signals reach a whole process; the test
process must keep its own handlers), prints what it saw as JSON and exits; the test reads
that. No timing is asserted: a stuck main thread is shown to be *ended* by the watchdog
(exit 130, callback run), with bounds shrunk so the program takes a second, not thirty.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _run(program: str, tmp_path: Path, timeout_s: float = 60) -> tuple[int, dict]:
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(program), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout_s, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, (json.loads(lines[-1]) if lines else {"stderr": done.stderr[-2000:]})


def test_first_signal_raises_and_is_recorded_even_when_sigint_was_inherited_ignored(tmp_path):
    code, seen = _run("""
        import json, os, signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job of a script starts
        from kernel.stopping import STOP
        with STOP.installed():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                STOP.sleep(5)
                raised = False
            except KeyboardInterrupt as exc:
                raised = str(exc)
        restored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        print(json.dumps({"raised": raised, "name": STOP.signal_name, "at": STOP.requested_at is not None,
                          "restored": restored}))
    """, tmp_path)
    assert code == 0, seen
    assert seen == {"raised": "SIGINT", "name": "SIGINT", "at": True, "restored": True}


def test_a_first_signal_swallowed_where_python_ignores_exceptions_is_raised_again_in_the_main_flow(tmp_path):
    """A signal whose handler runs inside a weakref callback (importlib runs one each time an
    import releases its module lock) raises there, and CPython drops the KeyboardInterrupt
    ("Exception ignored in ..."): a `dientap run` Ctrl-C'd while starting went on with its
    load until the watchdog killed it, exit 70. The swallowed stop is raised again in the main
    flow, as the first stop still, not an escalation — even while the main flow waits in a
    blocking call (a real signal ends it; the test's subprocess timeout bounds it otherwise)."""
    code, seen = _run("""
        import gc, json, os, signal, weakref
        from kernel.stopping import STOP

        class Lock:  # stands for importlib's module lock
            pass

        def released(_ref):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, in the callback
            return None

        with STOP.installed():
            try:
                lock = Lock()
                ref = weakref.ref(lock, released)
                del lock
                gc.collect()
                idle, _writer = os.pipe()
                os.read(idle, 1)  # the main flow goes on into a call that blocks: nothing is ever written
                raised = False
            except KeyboardInterrupt as exc:
                raised = str(exc)
        print(json.dumps({"raised": raised, "escalated": STOP.escalated}))
    """, tmp_path)
    assert code == 0, seen
    assert seen == {"raised": "SIGINT", "escalated": False}


def test_a_signal_that_lands_while_the_main_thread_holds_the_stop_lock_does_not_deadlock(tmp_path):
    """The handler runs in the main thread, between two of its steps — also while that thread
    is inside ``protected()`` or the unraisable hook, holding the stop's lock. A plain lock
    taken again there waited for itself for ever, and the watchdog, needing the same lock, never
    forced the exit (the test's subprocess timeout bounds it)."""
    code, seen = _run("""
        import json, os, signal
        from kernel.stopping import STOP

        with STOP.installed():
            try:
                with STOP._lock:  # white box: where protected() and the hook hold it
                    os.kill(os.getpid(), signal.SIGINT)  # the handler runs before the lock is let go
                    held = True  # a step still inside the block: the handler runs here at the latest
                raised = False
            except KeyboardInterrupt as exc:
                raised = str(exc)
        print(json.dumps({"raised": raised}))
    """, tmp_path, timeout_s=20)
    assert code == 0, seen
    assert seen == {"raised": "SIGINT"}


def test_a_protected_section_notes_the_signal_and_the_stop_follows_after_it(tmp_path):
    code, seen = _run("""
        import json, os, signal
        from kernel.stopping import STOP
        notes = []
        with STOP.installed():
            with STOP.protected(notes):
                os.kill(os.getpid(), signal.SIGTERM)  # lands inside: must not cut the rollback short
                inside = "finished"
            try:
                STOP.sleep(5)
                after = "slept"
            except KeyboardInterrupt:
                after = "raised"
        print(json.dumps({"inside": inside, "after": after, "notes": notes}))
    """, tmp_path)
    assert code == 0, seen
    assert seen["inside"] == "finished" and seen["after"] == "raised"
    assert seen["notes"] == ["SIGTERM received during the rollback; the rollback finished first"]


def test_a_second_signal_kills_every_registered_child_group_at_once(tmp_path):
    code, seen = _run("""
        import json, os, signal, subprocess, sys
        from kernel.stopping import CHILDREN, STOP
        # A child that ignores SIGTERM and has a grandchild in its own group: only SIGKILL
        # of the group ends both.
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "subprocess.Popen(['sleep', '120']); time.sleep(120)"], start_new_session=True)
        CHILDREN.add(child)
        with STOP.installed():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                STOP.sleep(5)
            except KeyboardInterrupt:
                os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, during the cleanup
        code = child.wait(30)
        try:
            os.killpg(child.pid, 0)
            group_alive = True
        except ProcessLookupError:
            group_alive = False
        print(json.dumps({"child": code, "group_alive": group_alive, "escalated": STOP.escalated}))
        os._exit(0)  # the watchdog would end us at the escalated bound otherwise
    """, tmp_path)
    assert code == 0, seen
    assert seen == {"child": -9, "group_alive": False, "escalated": True}


def test_the_watchdog_ends_a_stuck_process_with_130_after_recording_the_interruption(tmp_path):
    marker = tmp_path / "recorded"
    code, seen = _run(f"""
        import os, signal, time
        import kernel.stopping as stopping
        # Shrunk bounds: the same code path as the 25 s / 30 s ones, in about a second.
        stopping.STOP_BOUND_S, stopping.KILL_CHILDREN_AT_S = 1.0, 0.5
        stopping.STOP.on_force_exit(lambda: open({str(marker)!r}, "w").write("interrupted"))
        with stopping.STOP.installed():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                stopping.STOP.sleep(5)
            except KeyboardInterrupt:
                pass
            end = time.monotonic() + 30  # a cleanup that never finishes
            while time.monotonic() < end:
                time.sleep(0.05)
        print("{{}}")  # never reached
    """, tmp_path)
    assert code == 130, seen
    assert marker.read_text() == "interrupted"


def test_stop_processes_ends_a_frozen_child_and_one_that_ignores_sigterm(tmp_path):
    from kernel.stopping import stop_processes

    frozen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(120)"],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert stubborn.stdout is not None and stubborn.stdout.readline().strip() == "ready"
    frozen.send_signal(19)  # SIGSTOP: a stopped process handles nothing until SIGCONT
    stop_processes([frozen, stubborn], grace_s=1.0)
    assert frozen.returncode == -15  # SIGCONT then SIGTERM: it ended gracefully
    assert stubborn.returncode == -9  # ignored SIGTERM: killed after the grace
