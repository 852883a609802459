"""The c06-soap population adapter against a real population mock, as a load process uses it.

    python tests/scenarios/c06_probe.py <population base URL> <dry-run secret> <admin token>

Run as a subprocess (importing locust monkey-patches the standard library). Drives the
adapter picked for ("population", "c06-soap") and the native one side by side through
``ServiceSession`` and prints one JSON line of observations for ``test_scn_c06_adapter.py``.
The mock is expected to throttle at a low rate (burst ``BURST``), so the probe can see the
adapter gate a throttled client.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import json
import sys
from pathlib import Path
from typing import Any

import httpx
from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kernel.credentials import DerivedCredentials
from kernel.national.c06 import C06_NS, ENDPOINT_PATH, LOOKUP, SOAP_ENV_NS
from kernel.synthetic import citizen_at
from scenarios.adapters import ServiceSession, adapter_class

SEED = 11
SIZE = 300


def main() -> None:
    url, secret, admin = sys.argv[1], sys.argv[2], sys.argv[3]
    env = Environment()
    events: list[list[Any]] = []
    env.events.request.add_listener(
        lambda name, exception, **_: events.append([name, exception is None, str(exception or "")]))
    credentials = DerivedCredentials(secret)
    soap = adapter_class("population", "c06-soap")(ServiceSession(env, "population", url, pool_size=2), credentials)
    native = adapter_class("population", "native")(ServiceSession(env, "population", url, pool_size=2), credentials)
    c = citizen_at(SEED, 5)
    unknown = citizen_at(SEED, SIZE + 5)
    out: dict[str, Any] = {"class": type(soap).__name__}
    token = soap.token("province-01", "01")
    out["token"] = token

    def reply(r: Any) -> list[Any]:
        return [r.status, r.ok, r.error_code, r.data, r.throttled]

    out["match"] = reply(soap.verify(token, c.personal_id, c.full_name.upper(), c.date_of_birth, "Tiếp nhận hồ sơ TTHC",
                                     "01", "00004"))
    out["mismatch"] = reply(soap.verify(token, c.personal_id, "Ai Đó", c.date_of_birth, "x", "01"))
    out["unknown"] = reply(soap.verify(token, unknown.personal_id, unknown.full_name, unknown.date_of_birth, "x", "01"))
    out["malformed"] = reply(soap.verify(token, "0123", "A", c.date_of_birth, "x", "01"))
    out["lookup"] = reply(soap.lookup(token, c.personal_id, "x", "01"))
    native_token = native.token("province-01", "01")
    out["native_lookup"] = reply(native.lookup(native_token, c.personal_id, "x", "01"))
    out["lookup_unknown"] = reply(soap.lookup(token, unknown.personal_id, "x", "01"))
    police = soap.token("police", "01")
    out["police_lookup"] = reply(soap.lookup(police, c.personal_id, "x", "01"))
    # An answer the schema's string types let through with a date not in the shape's form.
    bad_date = (f'<s:Envelope xmlns:s="{SOAP_ENV_NS}" xmlns:d="{C06_NS}"><s:Body><d:{LOOKUP}Response>'
                "<d:MaYeuCau>1</d:MaYeuCau><d:TonTai>true</d:TonTai><d:CongDan><d:SoDinhDanh>1</d:SoDinhDanh>"
                "<d:NgayThangNamSinh><d:NgayThangNam>1969-10-04</d:NgayThangNam></d:NgayThangNamSinh>"
                f"</d:CongDan></d:{LOOKUP}Response></s:Body></s:Envelope>")
    rule = {"id": "bad-date", "kind": "body", "route": ENDPOINT_PATH, "method": "POST", "body": bad_date,
            "content_type": "text/xml; charset=utf-8"}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as http:
        http.post("/admin/faults", json=rule).raise_for_status()
        try:
            out["bad_date_lookup"] = reply(soap.lookup(police, c.personal_id, "x", "01"))
        finally:
            http.delete("/admin/faults/bad-date").raise_for_status()
    out["native_police_lookup"] = reply(native.lookup(native.token("police", "01"), c.personal_id, "x", "01"))
    # Throttling: spend province-20's bucket until the target says when to come back.
    scraper = soap.token("province-20", "20")
    throttled = None
    for _ in range(30):
        r = soap.verify(scraper, c.personal_id, c.full_name, c.date_of_birth, "bulk", "20")
        if r.throttled:
            throttled = reply(r)
            break
    out["throttled"] = throttled
    out["held_token"] = soap.token("province-20", "20")
    out["other_token"] = soap.token("province-22", "22")
    out["events"] = events
    print(json.dumps(out, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
