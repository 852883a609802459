"""Clients that honour Retry-After, against a loopback server that throttles and locks.

    python tests/scenarios/throttle_probe.py RETRY_AFTER_S

Run as a subprocess (importing locust monkey-patches the standard library). The server in
this process throttles like the portal mock, with an injected Retry-After:

* ``POST /auth/token`` — an account's first sign-in is answered 429 ``sign_in_throttled``
  with ``Retry-After``; a sign-in that arrives while that Retry-After is pending is answered
  423 ``account_locked`` (the throttle turned into a lockout); after it, 200 and a token;
* ``GET /dossiers?...`` (an officer's worklist) — a token's first read is 429 with
  ``Retry-After``; a read with that token before it has passed is counted as *early*;
* ``GET /procedures`` — 503 with ``Retry-After`` (an outage: a failure, not a throttle);
  ``GET /dossiers/D-2`` — 429 with a garbled ``Retry-After`` (no time given: a failure).

Officers (the real ``PortalAdapter`` of ``scenarios.adapters``) act every ``STEP`` of the
Retry-After; a *naive* actor signs in at the same pace with no gate, to show the server
does lock a client that does not wait. Prints one JSON line for ``test_scn_throttle.py``:
every request the server saw, with its time on this process's monotonic clock.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIServer
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scenarios.adapters import Reply, TargetSpec, adapters_for
from scenarios.latency import LatencyRecorder
from scenarios.personas.citizen import _waited_out
from scenarios.retry_after import retry_wait
from scenarios.schedule import JourneyClosed, Schedule, until_closed

RETRY_AFTER_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.4
STEP = 0.05  # actors act every 5 % of the Retry-After: a gate that let them through would show
OFFICERS = [f"0000{n}.officer1" for n in range(1, 9)]
SEEN: list[dict[str, Any]] = []
THROTTLED_UNTIL: dict[str, float] = {}  # account or token → end of its Retry-After


def _answer(start_response: Any, status: str, body: Any, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *(headers or [])])
    return [data]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The throttling target (see the module docstring)."""
    now = time.monotonic()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length)) if length else {}
    path = environ["PATH_INFO"] + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
    token = (environ.get("HTTP_AUTHORIZATION") or "").removeprefix("Bearer ") or None
    row: dict[str, Any] = {"t": now, "path": path, "who": body.get("account") or token}
    SEEN.append(row)
    retry = [("Retry-After", f"{RETRY_AFTER_S:g}")]
    if path == "/auth/token":
        account = body["account"]
        until = THROTTLED_UNTIL.get(account)
        if until is None:
            THROTTLED_UNTIL[account] = now + RETRY_AFTER_S
            row["status"] = 429
            return _answer(start_response, "429 Too Many Requests", {"error": {"code": "sign_in_throttled"}}, retry)
        if now < until:
            THROTTLED_UNTIL[account] = now + 300
            row["status"] = 423
            return _answer(start_response, "423 Locked", {"error": {"code": "account_locked"}}, [("Retry-After", "300")])
        row["status"] = 200
        return _answer(start_response, "200 OK", {"access_token": f"tok-{account}", "expires_in": 3600})
    if path.startswith("/dossiers?"):
        until = THROTTLED_UNTIL.get(f"list:{token}")
        if until is None:
            THROTTLED_UNTIL[f"list:{token}"] = now + RETRY_AFTER_S
            row["status"] = 429
            return _answer(start_response, "429 Too Many Requests", {"error": {"code": "rate_limited"}}, retry)
        row["status"] = 200
        row["early"] = now < until
        return _answer(start_response, "200 OK", [])
    if path.startswith("/procedures"):
        row["status"] = 503
        return _answer(start_response, "503 Service Unavailable", {"error": {"code": "dependency_down"}}, retry)
    row["status"] = 429
    return _answer(start_response, "429 Too Many Requests", {"error": {"code": "slow_down"}}, [("Retry-After", "soon")])


def officer(portal: Any, account: str, deadline: float) -> None:
    """Acts every STEP × Retry-After: a token (signing in when there is none), then its worklist."""
    listed = False
    while not listed and time.monotonic() < deadline:
        token = portal.officer_token(account, "01", "00001")
        if token is not None:
            listed = portal.worklist(token, "01", "00001").ok
        gevent.sleep(STEP * RETRY_AFTER_S)


def naive(session: Any, account: str, tries: int) -> None:
    """Signs in at the same pace with no gate, whatever the answer."""
    for _ in range(tries):
        session.call("POST", "/auth/token", name="POST /auth/token", province="01",
                     json={"kind": "officer", "account": account, "password": "x"})
        gevent.sleep(STEP * RETRY_AFTER_S)


def citizen_waits() -> dict[str, Any]:
    """The citizen's retry wait: Retry-After × jitter, given up past the bound, ended by the run's close."""
    rng = random.Random(1)
    schedule = Schedule(time.time())
    began = time.monotonic()
    waited = _waited_out(schedule, Reply(status=429, ok=False, retry_after=RETRY_AFTER_S), rng, 0.0)
    took = time.monotonic() - began
    expected = retry_wait(RETRY_AFTER_S, random.Random(1))
    began = time.monotonic()
    gave_up = _waited_out(schedule, Reply(status=429, ok=False, retry_after=1000.0), rng, 0.0)
    gave_up_took = time.monotonic() - began
    closing = Event()
    until_closed(closing)
    gevent.spawn_later(RETRY_AFTER_S, closing.set)
    began = time.monotonic()
    try:
        _waited_out(schedule, Reply(status=429, ok=False, retry_after=20.0), rng, 0.0)
        closed = False
    except JourneyClosed:
        closed = True
    until_closed(None)
    return {"waited": waited, "took": took, "expected": expected, "gave_up": gave_up, "gave_up_took": gave_up_took,
            "closed": closed, "closed_took": time.monotonic() - began}


def main() -> None:
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    base = f"http://127.0.0.1:{server.server_port}"
    env = Environment()
    env.create_local_runner()  # Locust's own statistics, as in a run
    recorder = LatencyRecorder()
    env.events.request.add_listener(recorder.on_request)
    messages: list[str] = []
    env.events.request.add_listener(lambda **kw: messages.append(str(kw["exception"] or "")))
    target = TargetSpec(urls={"portal": base, "population": base, "axis": base}, secret="s", pool_size=4, timeout_s=5)
    portal = adapters_for(env, target, "01").portal
    deadline = time.monotonic() + 20 * RETRY_AFTER_S + 5
    actors = [gevent.spawn(officer, portal, account, deadline) for account in OFFICERS]
    actors.append(gevent.spawn(naive, portal.http, "09999.officer1", int(3 / STEP)))
    gevent.joinall(actors)
    outage = portal.procedures("01")
    garbled = portal.dossier("tok", "D-2", "01")
    out = {
        "retry_after_s": RETRY_AFTER_S,
        "holds": {a: retry_wait(RETRY_AFTER_S, random.Random(f"{a}:0")) for a in OFFICERS},
        "seen": SEEN,
        "outage": [outage.status, outage.retry_after, outage.throttled],
        "garbled": [garbled.status, garbled.retry_after, garbled.throttled],
        "recorder": {"requests": recorder.requests, "failures": recorder.failures, "throttled": recorder.throttled,
                     "key_throttled": [[*k, n] for k, n in sorted(recorder.key_throttled.items())]},
        "messages": sorted(set(messages)),
        "locust_failures": env.stats.total.num_failures,
        "citizen": citizen_waits(),
    }
    server.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
