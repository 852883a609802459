"""In-process costs, each against a baseline measured in the same run.

    python bench/inprocess.py

1. seeding: the population mock's start-up with 100,000 citizens (generation + SQLite),
   against generating the same citizens alone;
2. certificates: issuing an agency's certificate from the dry-run CA, new and cached;
3. look-up: one authenticated, audited population look-up through the whole ASGI app
   (no server, no socket), against a bare Starlette "hello" called the same way;
4. verification: checking a signed edXML package the way the axis does (strict profile
   verifier), against signxml's general verifier on the same packages;
5. idempotency: the portal's check of a fresh Idempotency-Key with 200,000 keys stored —
   through the guard (Bloom filter first) against the database look-up alone;
6. submit: a dossier submission through the portal's whole ASGI app, 64 at a time, each
   new, identity-checked by a real population service process, against the same bare
   "hello" as 3 — the portal's own work per submission, without uvicorn's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
import time
import timeit
from pathlib import Path

import orjson
from signxml import DigestAlgorithm, SignatureMethod, XMLVerifier
from signxml.verifier import SignatureConfiguration

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hello_app import app as hello_app
from bench.mocks import UNTHROTTLED, start_service
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.edxml import DocumentEnvelope, build_package, make_document_id, parse_and_verify
from kernel.pki import DryRunCA
from kernel.roster import load_roster
from kernel.synthetic import citizen_at, citizens
from mocks.core.settings import ServiceSettings
from mocks.core.store import open_database
from mocks.population import create_app
from mocks.portal import create_app as create_portal
from mocks.portal.catalogue import catalogue_of
from mocks.portal.idempotency import IdempotencyGuard
from mocks.portal.store import PortalStore

SEEDED = 100_000
CALLS = 20_000
PACKAGES = 2_000


async def _call(app, method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> list[dict]:
    raw, _, query = path.partition("?")
    scope = {"type": "http", "method": method, "path": raw, "raw_path": raw.encode(), "query_string": query.encode(),
             "headers": [(k.encode(), v.encode()) for k, v in headers or []], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80), "scheme": "http", "http_version": "1.1", "root_path": ""}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def _per_call_us(app, paths: list[str], headers: list[tuple[str, str]] | None = None) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(CALLS):
            await _call(app, "GET", paths[i % len(paths)], headers=headers)
        runs.append((time.perf_counter() - started) / CALLS * 1e6)
    return min(runs)


async def lookups(data_dir: Path) -> tuple[float, float, float]:
    """(seconds to start the population mock, µs per look-up, µs per hello)."""
    app = create_app(ServiceSettings(data_dir=data_dir, population_size=SEEDED, rate_limit_per_s=1e9, rate_limit_burst=10**9))
    started = time.perf_counter()
    async with app.router.lifespan_context(app):
        startup_s = time.perf_counter() - started
        reply = await _call(app, "POST", "/auth/token", orjson.dumps(
            {"client_id": "police", "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, "police")}),
            [("content-type", "application/json")])
        token = orjson.loads(reply[1]["body"])["access_token"]
        paths = [f"/citizens/{citizen_at(42, i).personal_id}?purpose=bench" for i in range(2000)]
        status = (await _call(app, "GET", paths[0], headers=[("authorization", f"Bearer {token}")]))[0]["status"]
        assert status == 200, f"look-up answered {status}"  # nosec B101 - a benchmark of the wrong path is worthless
        lookup_us = await _per_call_us(app, paths, [("authorization", f"Bearer {token}")])
    hello_us = await _per_call_us(hello_app, ["/"])
    return startup_s, lookup_us, hello_us


def verifications(ca: DryRunCA) -> tuple[float, float]:
    """(µs per package verified as the axis does, µs per package with signxml's verifier)."""
    commune = load_roster().commune("00004")
    credential = ca.issue(commune.agency_code)
    today = dt.date.today()
    packages = [
        build_package(DocumentEnvelope(
            message_id=make_document_id(commune.agency_code, today, n, "BC-UBND"), sender_code=commune.agency_code,
            sender_name=f"UBND {commune.name}", recipients=["000.00.00.H26"], code_number=str(n),
            code_notation="BC-UBND", promulgation_place="Hà Nội", promulgation_date=today, document_type="Báo cáo",
            subject="Báo cáo tình hình vận hành", priority=0), credential)
        for n in range(1, PACKAGES + 1)
    ]
    config = SignatureConfiguration(expect_references=1, signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
                                    digest_algorithms=frozenset({DigestAlgorithm.SHA256}))

    def axis() -> None:
        for data in packages:
            parse_and_verify(data, trusted_ca=ca.certificate)

    def general() -> None:
        for data in packages:
            XMLVerifier().verify(data, x509_cert=credential.certificate, expect_config=config)

    per_package = []
    for run in (axis, general):
        run()  # warm caches (the signer certificate's chain check)
        best = min(timeit.repeat(run, number=1, repeat=3))
        per_package.append(best / len(packages) * 1e6)
    return per_package[0], per_package[1]


def idempotency_checks(path: Path, stored: int = 200_000, checks: int = 20_000) -> tuple[float, float]:
    """µs to rule out a fresh key: through the guard, and by the database look-up alone."""
    store = PortalStore(open_database(path))
    store.conn.execute("BEGIN")
    for n in range(stored):
        PortalStore.save_idempotent_response(
            store.conn, f"dossiers:{n % 5000:012d}", f"key-{n}", b"f" * 32, 201, b"{}", "2026-11-22T00:00:00.000+00:00"
        )
    store.conn.execute("COMMIT")
    guard = IdempotencyGuard(store)  # filled from the database, as at a portal's start
    fresh = [(f"dossiers:{n % 5000:012d}", f"fresh-{n}") for n in range(checks)]
    started = time.perf_counter()
    for scope, key in fresh:
        assert guard._replay(scope, key, b"f" * 32) is None  # the guard's first step for every request
    filtered_us = (time.perf_counter() - started) / checks * 1e6
    started = time.perf_counter()
    for scope, key in fresh:
        assert store.idempotent_response(scope, key) is None
    lookup_us = (time.perf_counter() - started) / checks * 1e6
    store.conn.close()
    return filtered_us, lookup_us


async def submits(data_dir: Path, population_url: str, applicants: int = 300, count: int = 10_000) -> float:
    """µs per submission (wall time of the event loop, 64 in flight), after 1,000 to warm up."""
    app = create_portal(ServiceSettings(data_dir=data_dir, population_url=population_url))
    json_type = ("content-type", "application/json")
    async with app.router.lifespan_context(app):
        requests = []
        for i in range(applicants):
            c = citizen_at(42, i)
            reply = await _call(app, "POST", "/auth/token", orjson.dumps(
                {"kind": "citizen", "personal_id": c.personal_id,
                 "password": derive_password(DEFAULT_DRY_RUN_SECRET, c.personal_id)}), [json_type])
            token = orjson.loads(reply[1]["body"])["access_token"]
            body = orjson.dumps({
                "procedure_code": catalogue_of(c.province_code)[0].code, "commune_code": c.commune_code, "channel": 2,
                "applicant": {"personal_id": c.personal_id, "full_name": c.full_name,
                              "date_of_birth": c.date_of_birth.isoformat()}, "fields": {"purpose": "bench"}})
            requests.append((token, body))
        slots = asyncio.Semaphore(64)

        async def submit(n: int) -> None:
            token, body = requests[n % applicants]
            async with slots:
                reply = await _call(app, "POST", "/dossiers", body, [
                    ("authorization", f"Bearer {token}"), json_type, ("idempotency-key", f"bench-{n}"),
                    ("content-length", str(len(body)))])
            assert reply[0]["status"] == 201, reply  # nosec B101 - only new dossiers count

        await asyncio.gather(*(submit(n) for n in range(1_000)))
        started = time.perf_counter()
        await asyncio.gather(*(submit(n) for n in range(1_000, 1_000 + count)))
        elapsed = time.perf_counter() - started
    return elapsed / count * 1e6


def main() -> int:
    started = time.perf_counter()
    citizens(42, SEEDED)
    generate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="dientap-bench-") as tmp:
        startup_s, lookup_us, hello_us = asyncio.run(lookups(Path(tmp) / "population"))
        ca = DryRunCA.load_or_create(Path(tmp) / "pki")
        codes = [c.agency_code for c in load_roster().communes[:2000]]
        started = time.perf_counter()
        for code in codes:
            ca.issue(code)
        new_us = (time.perf_counter() - started) / len(codes) * 1e6
        started = time.perf_counter()
        for code in codes:
            ca.issue(code)
        cached_us = (time.perf_counter() - started) / len(codes) * 1e6
        strict_us, signxml_us = verifications(ca)
        filtered_us, lookup_us_db = idempotency_checks(Path(tmp) / "portal.db")
        population = start_service("population", Path(tmp), 1, settings=UNTHROTTLED)
        try:
            submit_us = asyncio.run(submits(Path(tmp) / "portal", population.url))
        finally:
            population.close()
    print(f"seeding: population mock start-up with {SEEDED:,} citizens {startup_s:.2f} s; generating them alone "
          f"{generate_s:.2f} s (start-up ÷ generation {startup_s / generate_s:.2f})")
    print(f"certificates: {new_us:.0f} µs per new agency, {cached_us:.1f} µs cached (ratio {new_us / cached_us:.0f}×)")
    print(f"look-up in-process: {lookup_us:.1f} µs vs bare hello {hello_us:.1f} µs (ratio {hello_us / lookup_us:.2f}) — "
          f"best of 5 × {CALLS:,} calls")
    print(f"verification: {strict_us:.0f} µs per signed package as the axis checks it, {signxml_us:.0f} µs with signxml's "
          f"general verifier (ratio {signxml_us / strict_us:.1f}×) — best of 3 × {PACKAGES:,} packages")
    print(f"submit in-process: {submit_us:.1f} µs per dossier vs bare hello {hello_us:.1f} µs "
          f"(ratio {hello_us / submit_us:.2f}) — {10_000:,} new dossiers, 64 in flight, a real population service")
    print(f"idempotency: {filtered_us:.2f} µs to rule out a fresh key through the guard's filter, {lookup_us_db:.2f} µs "
          f"by the database look-up (ratio {lookup_us_db / filtered_us:.0f}×; 200,000 keys stored)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
