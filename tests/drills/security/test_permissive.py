"""Every check against a fake that lets everything through: none may pass (no vacuous checks).

The planted weaknesses prove one failure mode per check (every check has one); this fake
— answering yes to every request, in process through an ``httpx.MockTransport`` — proves
a second, cruder one for each: no check passes a target that refuses nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from pathlib import Path

import httpx
import pytest

from drills.security import SecurityLimits, SecurityTarget, all_checks, run_suite
from drills.security.jwt_forge import make_token
from kernel.pki import DryRunCA
from reports.security_scorecard import SecurityScorecard

URLS = {"portal": "http://127.0.0.1:18701", "population": "http://127.0.0.1:18702", "axis": "http://127.0.0.1:18703"}
EVERY_FIELD = {"personal_id": "001099000001", "full_name": "Nguyễn Văn A", "date_of_birth": "1990-01-01",
               "birth_year": 1990, "sex": "M", "address": "1 Tràng Tiền", "commune_code": "00004", "province_code": "01"}


class YesToEverything:
    """A careless implementation of all three services: every request succeeds."""

    def __init__(self) -> None:
        self.seq = itertools.count(1)
        self.dossiers: dict[str, dict] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        try:
            body = json.loads(request.content) if request.content[:1] == b"{" else {}
        except ValueError:
            body = {}
        if path == "/auth/token":
            now = int(time.time())
            claims = {"sub": "anyone", "role": "citizen", "jti": f"j{next(self.seq)}", "iat": now, "nbf": now,
                      "exp": now + 900, "aud": "any", "iss": "any"}
            return httpx.Response(200, json={"access_token": make_token({"alg": "HS256"}, claims, b"k"),
                                             "token_type": "Bearer", "expires_in": 900})
        if path == "/procedures":
            return httpx.Response(200, json={"procedures": [{"code": "1.000001.000.00.00.H26"}]})
        if path == "/dossiers" and method == "POST":
            code = f"{body.get('commune_code', '00004')}-261122-{next(self.seq):06d}"
            self.dossiers[code] = {"code": code, "status": body.get("status", 1), "fields": body.get("fields", {})}
            return httpx.Response(201, json=self.dossiers[code])
        if path.startswith("/dossiers/") and method == "GET":
            return httpx.Response(200, json=self.dossiers.get(path.split("/")[2], {"code": "x", "status": 1}))
        if path == "/dossiers":
            return httpx.Response(200, json={"items": [], "next_cursor": None})
        if path.startswith("/citizens/verify"):
            return httpx.Response(200, json={"match": True})
        if path.startswith("/citizens/"):
            return httpx.Response(200, json=EVERY_FIELD)
        if path == "/admin/audit":
            return httpx.Response(200, json={"entries": []})
        if path == "/admin/ledger":
            return httpx.Response(200, json={"counts": {"dossiers": next(self.seq)}})
        if path == "/documents" and method == "POST":
            digest = hashlib.sha256(request.content).hexdigest()[:32]
            return httpx.Response(201, json={"document_id": digest, "duplicate": False})
        if path == "/inbox":
            return httpx.Response(200, json={"deliveries": [], "next_cursor": None})
        return httpx.Response(200, json={"ok": True})


@pytest.fixture(scope="module")
def careless(tmp_path_factory: pytest.TempPathFactory) -> SecurityScorecard:
    pki: Path = tmp_path_factory.mktemp("pki")
    DryRunCA.load_or_create(pki)
    target = SecurityTarget(name="careless fake", kind="embedded", urls=URLS, admin_token="fake-admin-token",
                            pki_dir=pki, population_size=3000, knows_signing_keys=True)
    limits = SecurityLimits(scrape_max_requests=300, scrape_max_s=2.0, check_timeout_s=20.0)
    return run_suite(target, all_checks(), limits=limits, transport=httpx.MockTransport(YesToEverything()))


@pytest.mark.parametrize("check_id", [c.spec.id for c in all_checks()])
def test_no_check_passes_a_target_that_allows_everything(careless: SecurityScorecard, check_id: str) -> None:
    result = next(r for r in careless.checks if r.id == check_id)
    assert result.verdict == "FAIL", f"{check_id}: {result.verdict}: {result.summary}"
