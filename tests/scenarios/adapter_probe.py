"""What the adapters send and how they read the answers, against a scripted loopback server.

    python tests/scenarios/adapter_probe.py

Run as a subprocess (importing locust monkey-patches the standard library). Starts a
small WSGI server on 127.0.0.1 that records every request and answers from a script,
drives the adapters and the harness's arrival plan through it, and prints one JSON line
of observations for ``test_scn_adapters.py``. Also the custom adapter set ``build`` that
the test names in a target spec (``adapter: adapter_probe:build``).
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import socket
import sys
from pathlib import Path
from typing import Any

from gevent.pywsgi import WSGIHandler, WSGIServer
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel.errors import ConfigError
from kernel.synthetic import citizen_at
from scenarios.adapters import ServiceSession, SystemAdapters, TargetSpec, adapters_for, default_adapters
from scenarios.schedule import Schedule, follow

SEEN: list[dict[str, Any]] = []
STATE = {"dossier_posts": 0}


class RawPathHandler(WSGIHandler):
    """Keeps the request target as sent (pywsgi's PATH_INFO is already percent-decoded)."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["RAW_URI"] = self.path
        return environ


def _answer(start_response: Any, status: str, body: Any, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *(headers or [])])
    return [data]


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The scripted target: records the request, then answers by path."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    path = environ["PATH_INFO"] + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
    SEEN.append({"method": environ["REQUEST_METHOD"], "path": environ.get("RAW_URI", path),
                 "authorization": environ.get("HTTP_AUTHORIZATION"), "idempotency_key": environ.get("HTTP_IDEMPOTENCY_KEY"),
                 "content_type": environ.get("CONTENT_TYPE"), "cookie": environ.get("HTTP_COOKIE"),
                 "json": json.loads(raw) if raw.startswith(b"{") else None})
    body = SEEN[-1]["json"] or {}
    if path == "/auth/token":
        if body.get("agency_code") == "H99":
            return _answer(start_response, "401 Unauthorized", {"error": {"code": "bad_credentials"}})
        who = body.get("account") or body.get("client_id") or body.get("agency_code")
        # population tokens live 10 s, under the cache's 30 s margin: never reused
        return _answer(start_response, "200 OK", {"access_token": f"tok-{who}",
                                                  "expires_in": 10 if "client_id" in body else 3600},
                       [("Set-Cookie", "session=leak")])
    if path == "/procedures?province=04":
        return _answer(start_response, "200 OK", {"procedures": []})
    if path.startswith("/procedures"):
        return _answer(start_response, "200 OK", {"procedures": [{"code": "1.001"}]})
    if path == "/dossiers" and environ["REQUEST_METHOD"] == "POST":
        STATE["dossier_posts"] += 1
        if STATE["dossier_posts"] == 1:
            return _answer(start_response, "503 Service Unavailable", {"error": {"code": "overloaded"}},
                           [("Retry-After", "2.5")])
        return _answer(start_response, "201 Created", {"code": "D-1", "status": 1})
    if path.startswith("/dossiers?"):
        return _answer(start_response, "200 OK", [{"code": "D-1"}, {"code": "D-2"}])
    if path == "/dossiers/D-1":
        return _answer(start_response, "200 OK", b"<html>maintenance</html>")
    if path == "/dossiers/D-2":
        return _answer(start_response, "429 Too Many Requests", {"error": "slow down"}, [("Retry-After", "soon")])
    return _answer(start_response, "201 Created", {"ok": True})


def build(environment: Any, target: TargetSpec, province: str) -> SystemAdapters:
    """A custom adapter set, as a team would name it in targets.yaml."""
    adapters = default_adapters(environment, target, province)
    adapters.portal.custom_province = province  # type: ignore[attr-defined]
    return adapters


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    server = WSGIServer(("127.0.0.1", 0), app, log=None, handler_class=RawPathHandler)
    server.start()
    base = f"http://127.0.0.1:{server.server_port}"
    env = Environment()
    env.create_local_runner()  # hooks Locust's own statistics to the request event
    events: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: events.append({
        "type": kw["request_type"], "name": kw["name"], "exception": str(kw["exception"]) if kw["exception"] else None,
        "intended_start": (kw.get("context") or {}).get("intended_start")}))
    target = TargetSpec(urls={"portal": base, "population": base, "axis": base}, secret="s3cret", pool_size=2, timeout_s=5)
    a = adapters_for(env, target, "01")
    out: dict[str, Any] = {"same_gateway": adapters_for(env, target, "01") is a,
                           "other_province": adapters_for(env, target, "04") is not a}
    citizen = citizen_at(1, 0)

    token = a.portal.officer_token("00004.officer1", "01", "00004")
    again = a.portal.officer_token("00004.officer1", "01", "00004")
    out["officer_tokens"] = [token, again]
    out["population_tokens"] = [a.population.token("province-01", "01"), a.population.token("province-01", "01")]
    out["axis_refused"] = a.axis.token("H99", "01")
    published = a.portal.procedures("01", commune="00004")
    unpublished = a.portal.procedures("04")
    out["catalogues"] = [[published.ok, published.data], [unpublished.ok, unpublished.data]]
    follow(Schedule(1.0))  # an actor whose schedule began at 1.0: its requests carry their intended starts
    replies = [a.portal.submit_dossier(token, citizen, "1.001", "key-1", "01", "00004") for _ in range(2)]
    follow(None)
    out["submits"] = [[r.status, r.ok, r.error_code, r.retry_after, r.data] for r in replies]
    worklist = a.portal.worklist(token, "01", "00004", status=1, limit=5)
    garbled = a.portal.dossier(token, "D-1", "01")
    throttled = a.portal.dossier(token, "D-2", "01")
    out["reads"] = [[r.status, r.ok, r.data, r.error_code, r.retry_after] for r in (worklist, garbled, throttled)]
    a.axis.receipt("tok", "000.00.00.H26/2026/ 7#1", "03", "01")
    try:
        a.axis.sign(None)  # type: ignore[arg-type]  # no CA configured: refused before the envelope is read
    except RuntimeError as exc:
        out["sign_without_ca"] = str(exc)
    dead = ServiceSession(env, "axis", f"http://127.0.0.1:{_closed_port()}", timeout_s=2).call(
        "GET", "/inbox", name="GET /inbox", province="01")
    out["dead"] = [dead.status, dead.ok, dead.transport_error]

    custom = adapters_for(env, TargetSpec(urls=target.urls, secret="x", adapter="adapter_probe:build"), "11")
    out["custom_province"] = getattr(custom.portal, "custom_province", None)
    try:
        adapters_for(env, TargetSpec(urls=target.urls, secret="x", adapter="no_such_pkg.adapters:build"), "12")
    except ConfigError as exc:
        out["bad_adapter"] = str(exc)
    stats = sorted(f"{m} | {n}" for n, m in env.stats.entries)
    out.update(seen=SEEN, events=events, locust_stats=stats, harness=_harness(base))
    server.stop()
    print(json.dumps(out))


def _harness(base: str) -> dict[str, Any]:
    """The harness's arrival plan for two shipped profiles, its refusal of a foreign host,
    and where it sends Locust's end-of-run tables."""
    import logging
    import tempfile
    from types import SimpleNamespace

    from locust.log import setup_logging

    from kernel.errors import TargetNotAllowed
    from scenarios.harness import arrival_plan, config_from_options, tables_to_log
    from scenarios.profile import resolve_profile
    from scenarios.runconfig import RunConfig
    from scenarios.world import World

    out: dict[str, Any] = {}
    urls = {"portal": base, "population": base, "axis": base}
    for name in ("smoke", "golive"):
        config = RunConfig(run_id="p", run_dir=Path("unused"), profile=resolve_profile(name), seed=7, urls=urls)
        plan = arrival_plan(World(Environment(), config))
        out[name] = {"rates": {c.commune_code: c.rate_per_s for c in plan.communes}, "points": plan.curve.points,
                     "seed": plan.seed, "duration_s": plan.duration_s}
    options = SimpleNamespace(dientap_portal="https://dichvucong.gov.vn", dientap_population=base, dientap_axis=base,
                              dientap_pki_dir="/nonexistent", dientap_profile="smoke", dientap_seed=1,
                              dientap_population_size=10, dientap_out="runs/x")
    try:
        config_from_options(options)
    except TargetNotAllowed as exc:
        out["foreign_host"] = str(exc)
    loopback = config_from_options(SimpleNamespace(**{**vars(options), "dientap_portal": base}))
    out["loopback"] = {"urls": loopback.urls, "pki_dir": loopback.pki_dir, "profile": loopback.profile.name}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "logs" / "locust-stats.log"
        setup_logging("INFO")  # what Locust does before the init event: tables go to the console
        tables_to_log(log_path)
        logging.getLogger("locust.stats_logger").info("Type Name # reqs")
        tables = logging.getLogger("locust.stats_logger")
        for handler in tables.handlers:
            handler.flush()
        out["tables"] = {"text": log_path.read_text(encoding="utf-8"), "propagate": tables.propagate,
                         "handlers": [type(h).__name__ for h in tables.handlers]}
    return out


if __name__ == "__main__":
    main()
