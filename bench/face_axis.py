"""The axis's SDK face against its native face: ``sendEdoc`` ÷ ``POST /documents``.

    python bench/face_axis.py [--per-round 800] [--rounds 3] [--connections 8]

One axis mock (one uvicorn worker pinned to core 0); the client pinned to core 1: a bare
loop of pre-built requests over ``--connections`` keep-alive connections (``http.client``
in threads — wrk is not on every machine). Every request is a new document: distinct,
equally sized packages signed before the runs (the same sender, recipient, subject and
number width on both sides); the face's requests are signed (HMAC) before the runs too,
well inside the face's clock-skew window. Rounds alternate native, face, native, face…
and each face round is divided by the native round just before it (the host of a shared
machine drifts within minutes); the figure is the median ratio. The axis's ledger must
hold exactly as many new documents as the runs counted successes, or the run stops.
Goal (issue #15): ≥ 0.8.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mocks import ADMIN, start_service
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.edxml import DocumentEnvelope, build_package, make_document_id
from kernel.national.vdxp import HASH_HEADER, SYSTEM_ID_HEADER, TIMESTAMP_HEADER, format_timestamp, signature
from kernel.pki import DryRunCA
from kernel.roster import load_roster

Request = tuple[str, bytes, dict[str, str]]


def _packages(pki: Path, count: int, notation: str) -> tuple[str, list[bytes]]:
    roster = load_roster()
    commune = roster.commune("00004")
    province = roster.province(commune.province_code)
    credential = DryRunCA.load_or_create(pki).issue(commune.agency_code)
    today = dt.date.today()
    packages = []
    for number in range(100_000, 100_000 + count):  # same width: equal sizes on both sides
        envelope = DocumentEnvelope(
            message_id=make_document_id(commune.agency_code, today, number, notation), sender_code=commune.agency_code,
            sender_name=f"UBND {commune.name}", recipients=[province.agency_code], code_number=str(number),
            code_notation=notation, promulgation_place="Hà Nội", promulgation_date=today, document_type="Báo cáo",
            subject="Báo cáo tình hình vận hành", priority=0)
        packages.append(build_package(envelope, credential))
    return commune.agency_code, packages


def _native(token: str, packages: list[bytes]) -> list[Request]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    return [("/documents", p, headers) for p in packages]


def _face(sender: str, packages: list[bytes]) -> list[Request]:
    secret = derive_password(DEFAULT_DRY_RUN_SECRET, sender)
    now = time.time()
    out = []
    for i, p in enumerate(packages):
        stamp = format_timestamp(now + i / 1000)  # one millisecond apart: never the same signature twice
        out.append(("/vdxp/sendEdoc", p, {
            "Content-Type": "application/xml", SYSTEM_ID_HEADER: sender, TIMESTAMP_HEADER: stamp,
            HASH_HEADER: signature(secret, sender, stamp, "application/xml", p),
            "XroadVnpt-from": sender, "XroadVnpt-servicetype": "eDoc", "XroadVnpt-messagetype": "edoc"}))
    return out


def _run(url: str, requests: list[Request], connections: int) -> tuple[float, int]:
    """Send every request once over ``connections`` keep-alive connections; (requests/s, successes)."""
    parts = urlsplit(url)
    ok = [0] * connections
    errors: list[str] = []

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        for path, body, headers in requests[index::connections]:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status in (200, 201) and b'"duplicate":false' in payload:
                ok[index] += 1
            elif len(errors) < 3:
                errors.append(f"{path}: {response.status} {payload[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"ERROR: requests failed: {errors}")
    return len(requests) / elapsed, sum(ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-round", type=int, default=800, help="requests per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})
    total = args.per_round * args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        axis = start_service("axis", work, 0)
        try:
            pki = work / "axis" / "pki"
            sender, native_packages = _packages(pki, total, "BC-NATIVE")
            _, face_packages = _packages(pki, total, "BC-VDXP")
            token = httpx.post(axis.url + "/auth/token", json={
                "agency_code": sender, "client_secret": derive_password(DEFAULT_DRY_RUN_SECRET, sender)}).json()[
                "access_token"]
            native = _native(token, native_packages)
            face = _face(sender, face_packages)
            sizes = (statistics.mean(map(len, native_packages)), statistics.mean(map(len, face_packages)))
            ratios, stored = [], 0
            for r in range(args.rounds):
                chunk = slice(r * args.per_round, (r + 1) * args.per_round)
                native_rps, native_ok = _run(axis.url, native[chunk], args.connections)
                face_rps, face_ok = _run(axis.url, face[chunk], args.connections)
                stored += native_ok + face_ok
                ratios.append(face_rps / native_rps)
                print(f"round {r + 1}: native POST /documents {native_rps:7.0f}/s   "
                      f"sendEdoc {face_rps:7.0f}/s   ratio {face_rps / native_rps:.2f}")
            ledger = httpx.get(axis.url + "/admin/ledger", headers={"Authorization": f"Bearer {ADMIN}"}).json()
            if ledger["counts"]["documents"] != stored or stored != 2 * total:
                raise SystemExit(f"ERROR: the axis holds {ledger['counts']['documents']} documents, "
                                 f"the runs counted {stored} new of {2 * total}")
        finally:
            axis.close()
    print(f"package bytes: native {sizes[0]:.0f}, face {sizes[1]:.0f}; {args.connections} connections, "
          f"{args.per_round} requests per round and side")
    print(f"sendEdoc ÷ POST /documents: {statistics.median(ratios):.2f} "
          f"(median of {args.rounds}; range {min(ratios):.2f}–{max(ratios):.2f}; goal ≥ 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
