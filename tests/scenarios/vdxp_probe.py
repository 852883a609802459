"""The vdxp axis adapter against a real axis mock: what the personas get back, and the
Retry-After gate.

    python tests/scenarios/vdxp_probe.py <axis data dir> <axis url> <unconnected province>

Run as a subprocess (importing locust monkey-patches the standard library); prints one
JSON line of observations for ``test_scn_vdxp_adapter.py``.
"""

from __future__ import annotations

import locust  # noqa: F401  (monkey-patches first)  isort: skip

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from locust.env import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kernel.credentials import DEFAULT_DRY_RUN_SECRET
from kernel.edxml import DocumentEnvelope, make_document_id
from kernel.roster import load_roster
from scenarios.adapters import TargetSpec, adapters_for

HANOI = "000.00.00.H26"
COMMUNE = "H26.00004"


def main() -> None:
    data_dir, url, unconnected = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    env = Environment()
    env.create_local_runner()
    events: list[list[Any]] = []
    env.events.request.add_listener(lambda **kw: events.append(
        [kw["request_type"], kw["name"], str(kw["exception"]) if kw["exception"] else None]))
    target = TargetSpec(urls={"portal": url, "population": url, "axis": url}, secret=DEFAULT_DRY_RUN_SECRET,
                        pki_dir=data_dir / "pki", protocols={"axis": "vdxp"})
    axis = adapters_for(env, target, "01").axis
    out: dict[str, Any] = {"adapter": type(axis).__name__}
    today = dt.date.today()
    envelope = DocumentEnvelope(
        message_id=make_document_id(HANOI, today, 42, "UBND-PROBE"), sender_code=HANOI, sender_name="UBND Hà Nội",
        recipients=[COMMUNE], code_number="42", code_notation="UBND-PROBE", promulgation_place="Hà Nội",
        promulgation_date=today, document_type="Công văn", subject="Thử kênh SDK")
    token = axis.token(HANOI, "01")
    sent = axis.send(token, axis.sign(envelope), "01")
    resent = axis.send(token, axis.sign(envelope), "01")  # a retry: the same document
    out["token"] = token
    out["sent"] = [sent.status, sent.ok, sent.data.get("document_id"), resent.data.get("document_id"),
                   resent.data.get("duplicate")]
    commune = axis.token(COMMUNE, "01", "00004")
    pulled = axis.inbox(commune, "01", "00004", limit=10)
    out["inbox"] = [{k: d[k] for k in ("kind", "document_id", "sender_code", "attempt")}
                    for d in pulled.data["deliveries"]]
    delivery = pulled.data["deliveries"][0]
    out["receipts_sent"] = [axis.receipt(commune, delivery["document_id"], code, "01", "00004").ok
                            for code in ("01", "03")]
    out["illegal"] = [(r.status, r.ok, r.error_code) for r in [axis.receipt(commune, delivery["document_id"], "02",
                                                                            "01", "00004")]]
    out["ack"] = [axis.ack(commune, delivery["delivery_id"], "01", "00004").ok,
                  axis.ack(commune, delivery["delivery_id"], "01", "00004").data.get("acked")]
    out["again"] = axis.inbox(commune, "01", "00004").data["deliveries"]
    receipts = axis.receipts_of(token, sent.data["document_id"], "01")
    out["receipts_of"] = [(r["from_code"], r["status_code"]) for r in receipts.data["receipts"]]
    statuses = axis.inbox(token, "01").data["deliveries"]
    out["status_deliveries"] = [(d["kind"], d["sender_code"], d["status_code"]) for d in statuses]

    # A province not yet connected: 503 with Retry-After, and the agency is held.
    province = load_roster().province(unconnected)
    gated = adapters_for(env, target, unconnected).axis
    handle = gated.token(province.agency_code, unconnected)
    refused = gated.inbox(handle, unconnected)
    out["unconnected"] = [handle == province.agency_code, refused.status, refused.ok, refused.retry_after,
                          refused.error_code, gated.tokens.held(province.agency_code),
                          gated.token(province.agency_code, unconnected)]
    out["events"] = events
    print(json.dumps(out))


if __name__ == "__main__":
    main()
