"""Reconciliation: what the targets acknowledged to the load vs what they hold afterwards.

The vocabulary is Jepsen's queue checker, adapted to acknowledged writes:

=============  ===============================================================================
``ok``         acknowledged to the load and held by the target
``lost``       acknowledged, and still missing after the settle time — a broken promise
``duplicated`` one idempotency key acknowledged under several ids, or one id held twice
``unexpected`` held by the target but never acknowledged to anyone (e.g. a write whose
               answer was lost on the way back: the client timed out, the server committed)
``recovered``  acknowledged, missing at the first look, present after the settle time
               (an asynchronous path caught up: a payment callback, a restarted service)
=============  ===============================================================================

A drill passes only with zero ``lost`` and zero ``duplicated``.

Sources: the load's per-process ledgers (``run_dir/ledgers/*.json``, merged with
:meth:`kernel.ack_ledger.AckLedger.merge`, the Locust-free module) plus what the drill's own traffic was
acknowledged; the targets' ``GET /admin/ledger`` (dossiers, payments on the portal;
documents on the axis); receipts are read back through the axis API as each recipient
sees its own (the axis ledger numbers receipts, it does not name them), bounded to
:data:`MAX_RECEIPT_DOCUMENTS` (document, recipient) pairs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from kernel.ack_ledger import AckLedger
from kernel.credentials import derive_password
from kernel.roster import Roster, load_roster
from reports.drill_result import ReconciliationRow

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "AckLedger",
    "ITEM_KINDS",
    "LEDGER_SOURCES",
    "LOSSY_AXIS_ONE_IN",
    "MAX_RECEIPT_DOCUMENTS",
    "TargetHoldings",
    "merge_load_ledgers",
    "classify",
    "duplicated_keys",
    "name_duplicates",
    "MAX_LISTED_IDS",
    "predicted_lossy_drops",
    "fetch_holdings",
    "reconcile",
    "passes",
    "unverified_dossiers",
]

ITEM_KINDS = ("dossiers", "payments", "documents", "receipts")
# Which service's /admin/ledger holds each kind (receipts: read back, see module docstring).
LEDGER_SOURCES = {"dossiers": "portal", "payments": "portal", "documents": "axis"}
# The planted `lossy_axis` defect drops 1 in this many documents (mocks/axis/app.py
# DEFAULT_LOSSY_ONE_IN; a test keeps the two equal).
LOSSY_AXIS_ONE_IN = 50
MAX_RECEIPT_DOCUMENTS = 500
MAX_LISTED_IDS = 200  # lost, duplicated and unexpected items each named per row in the journal (counts stay exact)


@dataclass
class TargetHoldings:
    """What the targets hold, per item kind (ids; a kind missing here was not readable)."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def merge_load_ledgers(run_dir: Path, extra: Iterable[dict[str, dict[str, str]]] = ()) -> AckLedger:
    """The union of every load process's ledger, plus what the drill's own traffic was acknowledged."""
    ledger = AckLedger.merge(sorted((run_dir / "ledgers").glob("*.json")))
    for entries in extra:
        for kind, items in entries.items():
            for item_id, key in items.items():
                ledger.record(kind, item_id, key)
    return ledger


def duplicated_keys(acknowledged: dict[str, str]) -> int:
    """Extra ids acknowledged under an idempotency key already used for another id."""
    per_key = Counter(key for key in acknowledged.values() if key)
    return sum(n - 1 for n in per_key.values() if n > 1)


def name_duplicates(acknowledged: dict[str, str], held: list[str]) -> list[str]:
    """One entry per duplicate, in key order: every id acknowledged under a key after its first
    id, and every extra copy of an id the target holds more than once."""
    ids_by_key: dict[str, list[str]] = {}
    for item_id, key in acknowledged.items():
        if key:
            ids_by_key.setdefault(key, []).append(item_id)
    named: list[str] = []
    for key, ids in sorted(ids_by_key.items()):
        first, *extras = sorted(ids)
        named += [f"{extra} (key {key}, also {first})" for extra in extras]
    named += [f"{item_id} (held {n}×: copy {copy})"
              for item_id, n in sorted(Counter(held).items()) if n > 1 for copy in range(2, n + 1)]
    return named


def classify(kind: str, acknowledged: dict[str, str], held_first: list[str], held_settled: list[str] | None = None
             ) -> ReconciliationRow:
    """One row: compare acknowledged ids (id → key) with what the target held at the first
    look and (optionally) after the settle time."""
    settled = held_first if held_settled is None else held_settled
    first, final = set(held_first), set(settled)
    lost_ids = sorted(i for i in acknowledged if i not in final)
    recovered = sum(1 for i in acknowledged if i not in first and i in final)
    ok = sum(1 for i in acknowledged if i in first)
    held_twice = sum(n - 1 for n in Counter(settled).values() if n > 1)
    unexpected_ids = sorted(i for i in final if i not in acknowledged)
    duplicates = name_duplicates(acknowledged, settled)
    return ReconciliationRow(
        item_kind=kind, ok=ok, lost=len(lost_ids), duplicated=duplicated_keys(acknowledged) + held_twice,
        unexpected=len(unexpected_ids), recovered=recovered, lost_ids=lost_ids[:MAX_LISTED_IDS],
        duplicated_ids=duplicates[:MAX_LISTED_IDS], unexpected_ids=unexpected_ids[:MAX_LISTED_IDS],
    )


def predicted_lossy_drops(documents: dict[str, str], one_in: int = LOSSY_AXIS_ONE_IN) -> list[str]:
    """The acknowledged document ids the planted ``lossy_axis`` defect drops (by message id hash)."""
    return sorted(
        doc_id for doc_id, message_id in documents.items()
        if int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big") % one_in == 0
    )


def _admin_ledger(http: httpx.Client, url: str, token: str) -> dict[str, list[str]]:
    response = http.get(f"{url}/admin/ledger", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    ids = response.json().get("ids", {})
    return {k: [str(i) for i in v] for k, v in ids.items() if isinstance(v, list)}


def _agency_of(local: str, roster: Roster) -> str | None:
    """The agency code of the commune (``00004``) or province (``01``) a receipt id names."""
    try:
        return roster.commune(local).agency_code if len(local) == 5 else roster.province(local).agency_code
    except KeyError:
        return None


def _receipts(http: httpx.Client, axis_url: str, secret: str, receipt_ids: Iterable[str], roster: Roster,
              notes: list[str]) -> list[str]:
    """Read back receipts as each *recipient* sees its own (``GET /documents/{id}/receipts``).

    The recipient, not the sender: a document whose send timed out (never acknowledged to
    its sender) can still have been delivered and receipted.
    """
    pairs = sorted({(rid.split("#")[0], rid.split("#")[-1]) for rid in receipt_ids if rid.count("#") == 2})
    if len(pairs) > MAX_RECEIPT_DOCUMENTS:
        notes.append(f"receipts: read back {MAX_RECEIPT_DOCUMENTS} of {len(pairs)} (document, recipient) pairs")
        pairs = pairs[:MAX_RECEIPT_DOCUMENTS]
    tokens: dict[str, str | None] = {}
    held: list[str] = []
    for document_id, local in pairs:
        agency = _agency_of(local, roster)
        if agency is None:
            continue
        if agency not in tokens:
            reply = http.post(f"{axis_url}/auth/token",
                              json={"agency_code": agency, "client_secret": derive_password(secret, agency)})
            tokens[agency] = reply.json().get("access_token") if reply.status_code == 200 else None
        token = tokens[agency]
        if token is None:
            continue
        reply = http.get(f"{axis_url}/documents/{quote(document_id, safe='')}/receipts",
                         headers={"Authorization": f"Bearer {token}"})
        if reply.status_code != 200:
            continue
        for receipt in reply.json().get("receipts", []):
            if receipt.get("from_code") == agency:
                held.append(f"{document_id}#{receipt['status_code']}#{local}")
    return held


def fetch_holdings(urls: dict[str, str], admin_token: str | None, secret: str, ledger: AckLedger,
                   roster: Roster | None = None, *, timeout_s: float = 30.0) -> TargetHoldings:
    """Read what the targets hold now (admin ledgers + receipts read back)."""
    holdings = TargetHoldings()
    if not admin_token:
        holdings.notes.append("no admin token for the target: nothing to reconcile against")
        return holdings
    with httpx.Client(timeout=timeout_s) as http:
        for service in sorted(set(LEDGER_SOURCES.values())):
            try:
                ids = _admin_ledger(http, urls[service], admin_token)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                holdings.notes.append(f"{service} ledger unreadable: {type(exc).__name__}")
                continue
            for kind, source in LEDGER_SOURCES.items():
                if source == service and kind in ids:
                    holdings.ids[kind] = ids[kind]
        receipts = ledger.entries.get("receipts", {})
        if receipts and "axis" in urls:
            try:
                holdings.ids["receipts"] = _receipts(http, urls["axis"], secret, receipts, roster or load_roster(),
                                                     holdings.notes)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                holdings.notes.append(f"receipts unreadable: {type(exc).__name__}")
    return holdings


def reconcile(ledger: AckLedger, fetch: Callable[[], TargetHoldings], *, settle_s: float = 5.0,
              sleep: Callable[[float], None] | None = None) -> tuple[list[ReconciliationRow], list[str]]:
    """Compare now; if anything is missing, look again after ``settle_s`` (missing then found = recovered)."""
    import time

    first = fetch()
    missing = any(
        any(i not in set(first.ids.get(kind, [])) for i in ledger.entries.get(kind, {}))
        for kind in ITEM_KINDS if kind in first.ids
    )
    settled = first
    if missing and settle_s > 0:
        (sleep or time.sleep)(settle_s)
        settled = fetch()
    rows = []
    for kind in ITEM_KINDS:
        acknowledged = ledger.entries.get(kind, {})
        if kind not in settled.ids:
            continue
        rows.append(classify(kind, acknowledged, first.ids.get(kind, []), settled.ids[kind]))
    return rows, first.notes + [n for n in settled.notes if n not in first.notes]


def passes(rows: list[ReconciliationRow], *, max_lost: int = 0, max_duplicated: int = 0) -> bool:
    """Zero lost and zero duplicated (or within the drill's stated maxima)."""
    return sum(r.lost for r in rows) <= max_lost and sum(r.duplicated for r in rows) <= max_duplicated


def _when(text: str) -> float:
    import datetime as dt

    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def unverified_dossiers(urls: dict[str, str], admin_token: str | None, secret: str,
                        windows: list[tuple[datetime, datetime]], *, limit: int = 500, skew_s: float = 1.0) -> int:
    """Dossiers created during ``windows`` (datetimes) with no matching identity verification before them.

    Reads each dossier as an officer of its commune (the code starts with the commune code)
    and the population database's audit log (``GET /admin/audit?subject=&caller=portal``):
    a dossier is verified when the portal's ``verify`` of its applicant answered ``match``
    no later than the dossier's creation. Bounded to ``limit`` dossiers.
    """
    if not admin_token:
        return 0
    spans = [(a.timestamp(), b.timestamp()) for a, b in windows]
    admin = {"Authorization": f"Bearer {admin_token}"}
    unverified = 0
    with httpx.Client(timeout=10.0) as http:
        codes = _admin_ledger(http, urls["portal"], admin_token).get("dossiers", [])[:limit]
        tokens: dict[str, str | None] = {}
        for code in codes:
            commune = code.split("-", 1)[0]
            if commune not in tokens:
                account = f"{commune}.officer1"
                reply = http.post(f"{urls['portal']}/auth/token", json={
                    "kind": "officer", "account": account, "password": derive_password(secret, account)})
                tokens[commune] = reply.json().get("access_token") if reply.status_code == 200 else None
            token = tokens[commune]
            if token is None:
                continue
            reply = http.get(f"{urls['portal']}/dossiers/{quote(code, safe='')}", headers={"Authorization": f"Bearer {token}"})
            if reply.status_code != 200:
                continue
            dossier = reply.json()
            created = _when(dossier["created_at"])
            if spans and not any(a - skew_s <= created <= b + skew_s for a, b in spans):
                continue
            subject = (dossier.get("applicant") or {}).get("personal_id", "")
            audit = http.get(f"{urls['population']}/admin/audit", headers=admin,
                             params={"subject": subject, "caller": "portal", "limit": 100})
            entries = audit.json().get("entries", []) if audit.status_code == 200 else []
            if not any(e.get("action") == "verify" and e.get("result") == "match" and _when(e["at"]) <= created + skew_s
                       for e in entries):
                unverified += 1
    return unverified
