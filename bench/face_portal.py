"""The portal's integration-adapter face against its own API: new dossiers per second through
``DongBoHoSoMC`` (``isUpdating=false``) ÷ through ``POST /dossiers``, same mock, same run.

    python bench/face_portal.py [--seconds 2] [--repeat 12] [--connections 32]

One portal (pinned to core 0) and its population service (core 1, beside the client): the
same process serves both shapes. The client is the bare asyncio loop of bench/raw_http.py over persistent HTTP/1.1
connections writing pre-built requests (only the idempotency key or ``MaHoSo`` differs from
one request to the next), so its cost is the same few microseconds for either shape and the
ratio measures the server. The phases come in pairs (``--repeat``), native first in one
pair and the face first in the next: a shared machine drifts within minutes, and the store
grows through the run, so each ratio is taken within one pair and neither shape always
writes into the larger database.
Every request is a new dossier, and the portal's ledger must hold exactly the dossiers both
shapes acknowledged, or the run stops. Goal (issue #15): ≥ 0.8.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mocks import ADMIN, UNTHROTTLED, start_service
from bench.raw_http import drive, request_bytes
from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from kernel.national.dvcqg import AUTH_PATH, DEFAULT_DSTCODE, INTEGRATION_PATH, format_birth_date
from kernel.roster import load_roster
from kernel.synthetic import citizen_at

GOAL = 0.8
CITIZENS = 300


class Shape:
    """Builds the n-th new-dossier request of one shape, from per-citizen templates."""

    def __init__(self, name: str, host: str, templates: list[tuple[str, dict[str, str], str]], ok_status: int):
        self.name = name
        self.host = host
        self.templates = templates  # (path, headers with {n} to fill, body with {n} to fill)
        self.ok_status = ok_status
        self.run_id = f"{time.time_ns():x}"
        self.sent = 0  # across phases: every request of the run is a new dossier

    def request(self, n: int) -> bytes:
        path, headers, body = self.templates[n % len(self.templates)]
        unique = f"{self.run_id}-{n}"
        return request_bytes("POST", path, self.host,
                             {"Content-Type": "application/json", **{k: v.replace("{n}", unique) for k, v in headers.items()}},
                             body.replace("{n}", unique).encode())  # fmt: skip


def _phase(port: int, shape: Shape, seconds: float, connections: int) -> tuple[float, int]:
    """New dossiers of ``shape`` for ``seconds``: (acknowledged per second, acknowledged)."""

    def next_request() -> bytes:
        shape.sent += 1
        return shape.request(shape.sent)

    def answered(status: int, body: bytes) -> bool:
        # The face answers 200 with error_code 0 per item; the native API 201.
        return status == shape.ok_status and (status == 201 or body.startswith(b'{"error_code":0'))

    ok, elapsed = drive(port, next_request, answered, seconds=seconds, connections=connections)
    return ok / elapsed, ok


def _shapes(url: str, host: str) -> tuple[Shape, Shape]:
    from mocks.portal.catalogue import catalogue_of

    roster = load_roster()
    native, face = [], []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(CITIZENS):
            person = citizen_at(42, i)
            password = derive_password(DEFAULT_DRY_RUN_SECRET, person.personal_id)
            token = client.post("/auth/token", json={"kind": "citizen", "personal_id": person.personal_id,
                                                     "password": password}).json()["access_token"]  # fmt: skip
            session = client.post(AUTH_PATH, json={"username": person.personal_id, "password": password},
                                  headers={"dstcode": DEFAULT_DSTCODE}).json()["session"]  # fmt: skip
            procedure = catalogue_of(person.province_code)[0].code
            native.append(("/dossiers", {"Authorization": f"Bearer {token}", "Idempotency-Key": "bench-{n}"}, json.dumps({
                "procedure_code": procedure, "commune_code": person.commune_code, "channel": 2,
                "applicant": {"personal_id": person.personal_id, "full_name": person.full_name,
                              "date_of_birth": person.date_of_birth.isoformat()},
                "fields": {"purpose": "bench"},
            }, ensure_ascii=False)))  # fmt: skip
            face.append((INTEGRATION_PATH, {"dstcode": DEFAULT_DSTCODE}, json.dumps({
                "session": session, "madonvi": roster.commune(person.commune_code).agency_code,
                "service": "DongBoHoSoMC", "isUpdating": False,
                "data": [{"MaHoSo": "BENCH-{n}", "MaTTHC": procedure, "ChuHoSo": person.full_name, "LoaiDoiTuong": "1",
                          "MaDoiTuong": person.personal_id,
                          "ThongTinKhac": {"NgaySinh": format_birth_date(person.date_of_birth)},
                          "TrichYeuHoSo": "bench", "TrangThaiHoSo": "1"}],
            }, ensure_ascii=False)))  # fmt: skip
    return Shape("POST /dossiers", host, native, 201), Shape("DongBoHoSoMC", host, face, 200)


def _stored(url: str) -> int:
    reply = httpx.get(url + "/admin/ledger", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    reply.raise_for_status()
    return int(reply.json()["counts"]["dossiers"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dientap-face-portal-") as tmp:
        work = Path(tmp)
        population = start_service("population", work, 1, settings=UNTHROTTLED)
        portal = start_service("portal", work, 0, "--population-url", population.url)
        try:
            port = int(portal.url.rsplit(":", 1)[1])
            native, face = _shapes(portal.url, f"127.0.0.1:{port}")
            _phase(port, native, 2.0, args.connections)  # warm-up (not counted)
            acknowledged = _stored(portal.url)
            ratios, rows = [], []
            for pair in range(args.repeat):
                # Alternate which shape goes first: the store grows through the run, and a
                # later phase writes into a larger database than an earlier one.
                if pair % 2 == 0:
                    n_rps, n_ok = _phase(port, native, args.seconds, args.connections)
                    f_rps, f_ok = _phase(port, face, args.seconds, args.connections)
                else:
                    f_rps, f_ok = _phase(port, face, args.seconds, args.connections)
                    n_rps, n_ok = _phase(port, native, args.seconds, args.connections)
                acknowledged += n_ok + f_ok
                ratios.append(f_rps / n_rps)
                rows.append((n_rps, f_rps))
            stored = _stored(portal.url)
            if stored != acknowledged:
                raise SystemExit(f"{acknowledged} dossiers acknowledged but {stored} stored: not all new dossiers")
        finally:
            portal.close()
            population.close()
    for (n_rps, f_rps), ratio in zip(rows, ratios, strict=True):
        print(f"  native POST /dossiers {n_rps:8.0f}/s   face DongBoHoSoMC {f_rps:8.0f}/s   ratio {ratio:.2f}")
    median = statistics.median(ratios)
    print(f"DongBoHoSoMC ÷ POST /dossiers (new dossiers/s, median of {len(ratios)}): {median:.2f} "
          f"(range {min(ratios):.2f}–{max(ratios):.2f}; goal ≥ {GOAL})")  # fmt: skip
    return 0 if median >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
