"""Reconciliation of the go-live-night migration: did every in-flight dossier land in
exactly one successor commune?

The in-flight dossiers are the ones the drill filed at district units before the cut-over
and that were acknowledged (codes ``9PPDD-…``, :mod:`kernel.districts`). After the load,
the officers of every successor commune of those districts sign in and read their whole
worklist (what an officer really sees, not the migration journal); each in-flight dossier
must be found in exactly one of its own district's successors' worklists:

=============  ===========================================================================
``ok``         found in exactly one successor worklist
``lost``       found in none (named, ``lost_ids``)
``duplicated`` found in more than one (named, ``duplicated_ids``)
=============  ===========================================================================

The row's kind is ``migrated_dossiers``; a planted-defect drill predicts the lost ones
from the acknowledged codes (:func:`predicted_migration_drops`, the same rule as the
portal's planted ``lossy_migration``: its figure is kept equal by a test).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import httpx

from drills.backends.golive_night import worklist_codes
from drills.backends.traffic_outcome import answered, token_of
from kernel.credentials import derive_password, officer_account
from kernel.districts import DistrictTier, district_tier
from reports.drill_result import ReconciliationRow

__all__ = ["ITEM_KIND", "LOSSY_MIGRATION_ONE_IN", "classify_landings", "in_flight", "predicted_migration_drops",
           "predicted_migration_duplicates", "reconcile_migration"]

ITEM_KIND = "migrated_dossiers"
# The planted `lossy_migration` defect's figure (mocks/portal/district_migration.py; a test keeps the two equal).
LOSSY_MIGRATION_ONE_IN = 8
MAX_IDS = 200  # ids listed per row (counts are always exact)


def in_flight(dossiers: dict[str, str], tier: DistrictTier | None = None) -> dict[str, str]:
    """The acknowledged dossiers filed at a district unit: code → unit code."""
    tier = tier or district_tier()
    return {code: code[:5] for code in dossiers if tier.by_unit(code[:5]) is not None}


def classify_landings(flying: dict[str, str], worklists: dict[str, list[str]], tier: DistrictTier | None = None
                      ) -> ReconciliationRow:
    """One row: each in-flight dossier (code → unit) against the worklists read (commune → codes).

    A dossier counts where it is seen in a worklist of one of its own district's successors.
    """
    tier = tier or district_tier()
    seen: dict[str, list[str]] = defaultdict(list)
    for commune, codes in worklists.items():
        for code in codes:
            seen[code].append(commune)
    ok, lost, duplicated = 0, [], []
    for code, unit in sorted(flying.items()):
        district = tier.by_unit(unit)
        successors = set(district.successors) if district else set()
        landed = [c for c in seen.get(code, []) if c in successors]
        if not landed:
            lost.append(code)
        elif len(landed) > 1:
            duplicated.append(code)
        else:
            ok += 1
    return ReconciliationRow(item_kind=ITEM_KIND, ok=ok, lost=len(lost), duplicated=len(duplicated), unexpected=0,
                             recovered=0, lost_ids=lost[:MAX_IDS], duplicated_ids=duplicated[:MAX_IDS])


def _fate(code: str, one_in: int) -> int:
    return int.from_bytes(hashlib.sha256(f"lossy-migration:{code}".encode()).digest()[:8], "big") % one_in


def predicted_migration_drops(codes: list[str] | dict[str, str], one_in: int = LOSSY_MIGRATION_ONE_IN) -> list[str]:
    """The in-flight dossiers the planted ``lossy_migration`` defect drops."""
    return sorted(code for code in codes if _fate(code, one_in) == 0)


def predicted_migration_duplicates(codes: list[str] | dict[str, str], one_in: int = LOSSY_MIGRATION_ONE_IN
                                   ) -> list[str]:
    """The in-flight dossiers the planted ``lossy_migration`` defect lands in two communes."""
    return sorted(code for code in codes if _fate(code, one_in) == 1)


def reconcile_migration(portal_url: str, secret: str, dossiers: dict[str, str], *, timeout_s: float = 30.0
                        ) -> tuple[ReconciliationRow | None, list[str]]:
    """Read the worklists of every successor of the districts with in-flight dossiers; the row (or
    ``None`` when nothing was in flight) and notes (officers who could not sign in)."""
    tier = district_tier()
    flying = in_flight(dossiers, tier)
    if not flying:
        return None, []
    communes = sorted({c for unit in set(flying.values()) for c in tier.by_unit(unit).successors})  # type: ignore[union-attr]
    worklists: dict[str, list[str]] = {}
    notes: list[str] = []
    with httpx.Client(timeout=timeout_s) as http:
        for commune in communes:
            account = officer_account(commune, 1)
            token, why = token_of(answered(http.post, f"{portal_url}/auth/token", json={
                "kind": "officer", "account": account, "password": derive_password(secret, account)}),
                f"officer {account}'s sign-in")
            if token is None:
                notes.append(f"{ITEM_KIND}: {why}")
                continue
            worklist, why = worklist_codes(http, portal_url, token)
            if worklist is None:
                notes.append(f"{ITEM_KIND}: {commune}'s {why}")
                continue
            worklists[commune] = worklist
    notes.append(f"{ITEM_KIND}: {len(flying)} in flight at {len(set(flying.values()))} district unit(s), "
                 f"{len(worklists)} of {len(communes)} successor worklists read")
    return classify_landings(flying, worklists, tier), notes
