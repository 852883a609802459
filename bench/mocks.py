"""Throughput of the three mocks' hot paths, as ratios to a bare Starlette "hello".

Each server runs on one uvicorn worker pinned to core 0; wrk runs pinned to core 1
(``taskset``), one thread, 64 connections, 10 s. Every endpoint's run is paired with a
hello run just before it, and the pairs are repeated (``--repeat``, default 3): the host
of a shared machine drifts by 10–20 % within minutes, and a ratio to a baseline measured
minutes earlier carries that drift. The table gives the median ratio and its range.

    python bench/mocks.py [--seconds 10] [--repeat 3] [--only lookup|submit|send ...]

Goals (issue #2): population look-up ≥ 0.50, dossier submit ≥ 0.25, document send ≥ 0.10.
Every submit and send is new (fresh idempotency keys, one distinct signed package per
request), and the service's ledger must hold as many new records as wrk counted 2xx
answers, or the run stops: a benchmark of the duplicate path would flatter the figure.
The dossier-submit run needs the population service too; it runs on core 1 beside wrk
(there are only two cores), which makes that ratio a conservative figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk_support import WrkResult, have_wrk, run_wrk
from dientap.orchestration.process import ServiceProcess
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.roster import load_roster
from kernel.synthetic import citizen_at

ADMIN = "bench-admin"
POPULATION = 20_000
UNTHROTTLED = {"rate_limit_per_s": 1e9, "rate_limit_burst": 1_000_000_000}
# --service-settings: settings for every service under test, e.g. {"gc_gen0_threshold": 700}
# to measure Python's default collector threshold against the mocks' own.
SERVICE_SETTINGS: dict[str, object] = {}
PORTAL_WAL_MB: list[float] = []  # the portal's WAL file after each submit run (it must not grow without bound)


def start_service(name: str, data: Path, core: int, *extra: str, settings: dict[str, object] | None = None,
                  entry: tuple[str, ...] = ("-m", "mocks")) -> ServiceProcess:
    """Start one mock service pinned to ``core`` and wait until it is healthy (``entry``: what
    ``python`` runs, ``-m mocks`` unless a bench serves a variant)."""
    merged = {**(settings or {}), **SERVICE_SETTINGS}
    if merged:
        extra = (*extra, "--settings-json", json.dumps(merged))
    argv = ["taskset", "-c", str(core), sys.executable, *entry, "serve", name, "--data-dir", str(data / name),
            "--population-size", str(POPULATION), *extra]
    proc = ServiceProcess(name, argv, env={"DIENTAP_ADMIN_TOKEN": ADMIN}, log_path=data / f"{name}.log")
    proc.start()
    proc.wait_healthy(120)
    return proc


def _stored(url: str, kind: str) -> int:
    """How many ``kind`` records the service's ledger holds (admin API)."""
    reply = httpx.get(url + "/admin/ledger", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    reply.raise_for_status()
    return int(reply.json()["counts"][kind])


def _check_all_new(result: WrkResult, stored: int, kind: str) -> None:
    # A benchmark that re-sends what was already stored measures the cheap duplicate
    # path. wrk may cut a few requests off mid-flight at the end (stored, not counted).
    answered = result.requests - result.non_2xx
    if not answered <= stored <= answered + 64:
        raise SystemExit(f"{kind}: {answered} answered 2xx but {stored} stored: the run was not all new {kind}")


def _lua_list(values: list[str]) -> str:
    # Raw UTF-8 in the literal: Lua 5.1 has no \uXXXX escape, so JSON's ASCII escaping
    # would corrupt Vietnamese names in the request bodies.
    return "{" + ",".join(json.dumps(v, ensure_ascii=False) for v in values) + "}"


def bench_hello(work: Path, seconds: int) -> WrkResult:
    proc = ServiceProcess("hello", ["taskset", "-c", "0", sys.executable, str(Path(__file__).parent / "hello_app.py")])
    proc.start()
    try:
        _wait(proc.url + "/")
        return run_wrk(proc.url + "/", seconds=seconds)
    finally:
        proc.close()


def _wait(url: str) -> None:
    import time

    for _ in range(200):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def bench_lookup(work: Path, seconds: int) -> WrkResult:
    _forget_writes(work / "population")
    proc = start_service("population", work, 0, settings=UNTHROTTLED)
    try:
        token = httpx.post(proc.url + "/auth/token", json={
            "client_id": "police", "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, "police")}).json()["access_token"]
        ids = [citizen_at(42, i).personal_id for i in range(0, POPULATION, 2)]
        script = work / "lookup.lua"
        script.write_text(
            f"local ids = {_lua_list(ids)}\nlocal i = 0\n"
            "request = function()\n  i = i + 1\n"
            "  return wrk.format('GET', '/citizens/' .. ids[(i % #ids) + 1] .. '?purpose=bench', "
            f"{{['Authorization'] = 'Bearer {token}'}})\nend\n"
        )
        return run_wrk(proc.url, script=script, seconds=seconds)
    finally:
        proc.close()


def bench_submit(work: Path, seconds: int) -> WrkResult:
    from mocks.portal.catalogue import catalogue_of

    _forget_writes(work / "portal")
    population = start_service("population", work, 1, settings=UNTHROTTLED)
    portal = start_service("portal", work, 0, "--population-url", population.url)
    try:
        tokens, bodies = [], []
        with httpx.Client(base_url=portal.url, timeout=10) as client:
            for i in range(500):
                citizen = citizen_at(42, i)
                password = derive_password(DEFAULT_DRY_RUN_SECRET, citizen.personal_id)
                reply = client.post("/auth/token", json={"kind": "citizen", "personal_id": citizen.personal_id,
                                                          "password": password})
                tokens.append(reply.json()["access_token"])
                procedure = catalogue_of(citizen.province_code)[0].code
                bodies.append(json.dumps({
                    "procedure_code": procedure, "commune_code": citizen.commune_code, "channel": 2,
                    "applicant": {"personal_id": citizen.personal_id, "full_name": citizen.full_name,
                                  "date_of_birth": citizen.date_of_birth.isoformat()},
                    "fields": {"purpose": "bench"},
                }, ensure_ascii=False))
        script = work / "submit.lua"
        script.write_text(
            f"local tokens = {_lua_list(tokens)}\nlocal bodies = {_lua_list(bodies)}\nlocal n = 0\n"
            "local tid = tostring(math.random(1, 1000000000))\n"
            "request = function()\n  n = n + 1\n  local k = (n % #bodies) + 1\n"
            "  return wrk.format('POST', '/dossiers', {['Authorization'] = 'Bearer ' .. tokens[k], "
            "['Content-Type'] = 'application/json', ['Idempotency-Key'] = 'bench-' .. tid .. '-' .. n}, bodies[k])\nend\n"
        )
        result = run_wrk(portal.url, script=script, seconds=seconds)
        _check_all_new(result, _stored(portal.url, "dossiers"), "dossiers")
        PORTAL_WAL_MB.append((work / "portal" / "portal.db-wal").stat().st_size / 1e6)
        return result
    finally:
        portal.close()
        population.close()


@dataclass(frozen=True)
class SendLoad:
    """Signed packages for the send runs, built once (the axis's CA lives in ``work/axis/pki``)."""

    sender: str
    script: Path


def prepare_send(work: Path, seconds: int, packages: int | None = None) -> SendLoad:
    """Sign enough distinct packages that no run sends one twice (a duplicate is only a look-up)."""
    from kernel.edxml import DocumentEnvelope, build_package, make_document_id
    from kernel.pki import DryRunCA

    roster = load_roster()
    commune = roster.commune("00004")
    province = roster.province(commune.province_code)
    credential = DryRunCA.load_or_create(work / "axis" / "pki").issue(commune.agency_code)
    today = dt.date.today()
    delimiter = "\n--DIENTAP-PACKAGE--\n"
    chunks = []
    for number in range(1, (packages or 8_000 * seconds) + 1):
        envelope = DocumentEnvelope(
            message_id=make_document_id(commune.agency_code, today, number, "BC-UBND"), sender_code=commune.agency_code,
            sender_name=f"UBND {commune.name}", recipients=[province.agency_code], code_number=str(number),
            code_notation="BC-UBND", promulgation_place="Hà Nội", promulgation_date=today, document_type="Báo cáo",
            subject="Báo cáo tình hình vận hành", priority=0,
        )
        chunks.append(build_package(envelope, credential).decode())
    data = work / "packages.txt"
    data.write_text(delimiter.join(chunks) + delimiter, encoding="utf-8")
    script = work / "send.lua"
    script.write_text(
        "local packages = {}\nlocal n = 0\n"
        "init = function(args)\n"
        f"  local f = io.open({json.dumps(str(data))}, 'rb'); local text = f:read('*a'); f:close()\n"
        f"  local d = {json.dumps(delimiter)}; local start = 1\n"
        "  while true do\n    local s, e = string.find(text, d, start, true)\n    if not s then break end\n"
        "    packages[#packages + 1] = string.sub(text, start, s - 1); start = e + 1\n  end\nend\n"
        "request = function()\n  n = n + 1\n  if n > #packages then n = 1 end\n"
        "  return wrk.format('POST', '/documents', {['Authorization'] = 'Bearer ' .. TOKEN, "
        "['Content-Type'] = 'application/xml'}, packages[n])\nend\n"
    )
    return SendLoad(commune.agency_code, script)


def bench_send(work: Path, seconds: int, load: SendLoad) -> WrkResult:
    _forget_writes(work / "axis")
    axis = start_service("axis", work, 0)
    try:
        secret = derive_password(DEFAULT_DRY_RUN_SECRET, load.sender)
        token = httpx.post(axis.url + "/auth/token", json={
            "agency_code": load.sender, "client_secret": secret}).json()["access_token"]
        script = load.script.with_name("send-run.lua")
        script.write_text(f"TOKEN = {json.dumps(token)}\n" + load.script.read_text(encoding="utf-8"), encoding="utf-8")
        result = run_wrk(axis.url, script=script, seconds=seconds)
        _check_all_new(result, _stored(axis.url, "documents"), "documents")
        return result
    finally:
        axis.close()


def _forget_writes(data_dir: Path) -> None:
    """Start a service's next run from an empty store (its CA and seeded citizens stay)."""
    for pattern in ("portal.db*", "axis.db*", "audit.db*"):
        for path in data_dir.glob(pattern):
            path.unlink()


@dataclass
class Measured:
    """One endpoint over the repeats: each run and the hello run just before it."""

    name: str
    goal: float
    runs: list[tuple[WrkResult, WrkResult]] = field(default_factory=list)  # (hello, endpoint)

    @property
    def ratios(self) -> list[float]:
        return [run.ok_rps / hello.ok_rps for hello, run in self.runs]

    def median_run(self) -> tuple[WrkResult, WrkResult]:
        order = sorted(range(len(self.runs)), key=lambda i: self.ratios[i])
        return self.runs[order[len(order) // 2]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--service-settings", type=json.loads, default={},
                        help='JSON settings for every service under test, e.g. \'{"gc_gen0_threshold": 700}\'')
    parser.add_argument("--repeat", type=int, default=3, help="pairs (hello, endpoint) per endpoint")
    parser.add_argument("--packages", type=int, default=None,
                        help="distinct signed packages for the send benchmark (default 8,000 per second)")
    parser.add_argument("--only", nargs="+", choices=("lookup", "submit", "send"), default=("lookup", "submit", "send"),
                        help="measure only these endpoints")
    args = parser.parse_args()
    if not isinstance(args.service_settings, dict):
        print("--service-settings must be a JSON object", file=sys.stderr)
        return 2
    SERVICE_SETTINGS.update(args.service_settings)
    if not have_wrk() or os.cpu_count() is None:
        print("bench/mocks.py needs wrk (apt-get install wrk) and taskset", file=sys.stderr)
        return 2
    if args.repeat < 1 or args.seconds < 1:
        print("--repeat and --seconds must be ≥ 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dientap-bench-") as tmp:
        work = Path(tmp)
        send_load = prepare_send(work, args.seconds, args.packages) if "send" in args.only else None
        every = {
            "lookup": (Measured("population look-up (authenticated, audited)", 0.50),
                       lambda: bench_lookup(work, args.seconds)),
            "submit": (Measured("dossier submit (validated, persisted, identity-checked)", 0.25),
                       lambda: bench_submit(work, args.seconds)),
            "send": (Measured("document send (signed edXML, verified, persisted)", 0.10),
                     lambda: bench_send(work, args.seconds, send_load)),
        }
        endpoints = [every[key] for key in ("lookup", "submit", "send") if key in args.only]
        for _ in range(args.repeat):
            for measured, run in endpoints:
                hello = bench_hello(work, args.seconds)
                measured.runs.append((hello, run()))
    print(f"{args.repeat} × (hello, endpoint) pairs of {args.seconds} s; figures of the median pair")
    print(f"{'endpoint':<56} {'2xx/s':>8} {'hello/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'range':>11} {'goal':>5}")
    for measured, _ in endpoints:
        hello, result = measured.median_run()
        ratios = measured.ratios
        median = result.ok_rps / hello.ok_rps
        mark = "ok" if median >= measured.goal else "MISS"
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}"
        print(f"{measured.name:<56} {result.ok_rps:>8.0f} {hello.ok_rps:>8.0f} {result.p50_ms:>7.2f} {result.p99_ms:>7.2f} "
              f"{median:>6.2f} {spread:>11} {measured.goal:>5.2f} {mark}")
    print("pairs in run order (endpoint 2xx/s ÷ hello 2xx/s):")
    for measured, _ in endpoints:
        pairs = ", ".join(f"{run.ok_rps:.0f}÷{hello.ok_rps:.0f}={run.ok_rps / hello.ok_rps:.2f}" for hello, run in measured.runs)
        print(f"  {measured.name.split(' (')[0]}: {pairs}")
    if PORTAL_WAL_MB:
        print("portal WAL file after each submit run: " + ", ".join(f"{mb:.0f} MB" for mb in PORTAL_WAL_MB))
    return 0


if __name__ == "__main__":
    sys.exit(main())
