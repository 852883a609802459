"""Drive every persona call of the ``dvcqg-adapter`` portal adapter against a real portal mock.

    python tests/scenarios/dvcqg_probe.py http://127.0.0.1:PORT SEED

Run as a subprocess (importing locust monkey-patches the standard library). Prints one JSON
line of what the adapter returned, for ``test_scn_dvcqg_adapter.py``.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import sys
from pathlib import Path
from typing import Any

from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, DerivedCredentials
from kernel.roster import load_roster
from kernel.synthetic import citizen_at
from scenarios.adapters import ServiceSession, adapter_class


def main(url: str, seed: int) -> dict[str, Any]:
    env = Environment()
    events: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: events.append({"name": kw["name"], "failed": kw["exception"] is not None,
                                                                "why": str(kw["exception"] or "")}))
    session = ServiceSession(env, "portal", url)
    adapter = adapter_class("portal", "dvcqg-adapter")(session, DerivedCredentials(DEFAULT_DRY_RUN_SECRET))
    person = citizen_at(seed, 21)
    commune = person.commune_code
    province = load_roster().commune(commune).province_code
    out: dict[str, Any] = {"class": type(adapter).__name__}
    signed = adapter.sign_in_citizen(person, province, commune)
    token = signed.data["access_token"]
    out["sign_in"] = [signed.ok, sorted(signed.data)]
    catalogue = adapter.procedures(province)
    out["catalogue"] = [catalogue.ok, len(catalogue.data["procedures"]), sorted(catalogue.data["procedures"][0])]
    code = next(p["code"] for p in catalogue.data["procedures"] if p["code"].startswith("1.004873"))  # has a fee
    first = adapter.submit_dossier(token, person, code, "probe-key-1", province, commune,
                                   fields={"purpose": "Thử", "contact_phone": "0900000000"})
    retry = adapter.submit_dossier(token, person, code, "probe-key-1", province, commune,
                                   fields={"purpose": "Thử", "contact_phone": "0900000000"})
    out["submit"] = [first.ok, first.status, first.data.get("code")]
    out["retry"] = [retry.ok, retry.status, retry.data.get("code"), retry.data.get("replayed")]
    dossier_code = first.data["code"]
    read = adapter.dossier(token, dossier_code, province, commune)
    out["read"] = [read.ok, read.data.get("status"), read.data.get("applicant"), read.data.get("fee_vnd")]
    out["missing"] = [adapter.dossier(token, "NO-SUCH-1", province, commune).status]
    account = f"{commune}.officer1"
    officer = adapter.officer_token(account, province, commune)
    out["officer_cached"] = officer is not None and adapter.officer_token(account, province, commune) == officer
    listing = adapter.worklist(officer, province, commune, status=1, limit=200)
    out["worklist"] = [listing.ok, dossier_code in [i["code"] for i in listing.data.get("items", [])]]
    moves = [adapter.transition(officer, dossier_code, to, province, commune) for to in (2, 4, 6)]
    out["moves"] = [[m.ok, m.data.get("status")] for m in moves]
    illegal = adapter.transition(officer, dossier_code, 10, province, commune)
    out["illegal"] = [illegal.ok, illegal.status, illegal.error_code]
    paid = adapter.pay(token, dossier_code, "probe-key-1-pay", province, commune)
    out["pay"] = [paid.ok, bool(paid.data.get("payment_id"))]
    out["feedback"] = adapter.feedback(token, province, commune, "Góp ý", "Nhanh hơn").ok
    out["sign_out"] = adapter.sign_out(token, province, commune).ok
    out["after_sign_out"] = adapter.dossier(token, dossier_code, province, commune).status
    bad = adapter.officer_token(f"{commune}.officer999", province, commune)
    out["bad_officer"] = bad
    out["names"] = sorted({e["name"] for e in events})
    out["failed_names"] = sorted({e["name"] for e in events if e["failed"]})
    out["failures"] = sorted({f"{e['name']}: {e['why']}" for e in events if e["failed"]})
    out["dossier_code"] = dossier_code
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
