"""The go-live night's cut-over, successor officers and reconciliation when the portal leaves
requests unanswered: each is counted with its transport error and the work goes on (real
loopback HTTP against scripted portals that drop chosen connections without an answer)."""

from __future__ import annotations

import json
from typing import ClassVar

from drills.backends.protocol import FaultOutcome
from drills.golive_reconcile import ITEM_KIND, reconcile_migration
from drills.model import Fault
from kernel.credentials import officer_account
from kernel.districts import district_tier
from tests.support import JsonHandler, loopback_http_server, traffic_action_against

ADMIN = "admin-token"


def _run_action(handler: type[JsonHandler], action: str, count: int) -> FaultOutcome:
    fault = Fault.model_validate({"name": action, "backend": "traffic", "target": "portal", "at_s": 0,
                                  "duration_s": 30, "traffic": {"action": action, "count": count}})
    return traffic_action_against(handler, fault, window_s=10.0, admin_token=ADMIN)


class _MigratingPortal(JsonHandler):
    """Closes the tier, then migrates six dossiers two a batch; the migration call number
    ``dropped`` is left unanswered (and not applied)."""

    dropped = 2
    calls = 0
    left = 6

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        self.read_body()
        assert self.headers["Authorization"] == f"Bearer {ADMIN}"
        cls = type(self)
        if self.path == "/admin/district-tier":
            self.reply(200, {"status": "closed"})
            return
        cls.calls += 1
        if cls.calls == cls.dropped:
            self.drop()
            return
        if cls.left == 0:
            self.reply(200, {"batch": None, "moved": [], "remaining": 0})
            return
        moved = [{"code": f"D{cls.left - k}", "province_code": "01"} for k in range(2)]
        cls.left -= 2
        self.reply(200, {"batch": cls.calls, "moved": moved, "remaining": cls.left})


def test_an_unanswered_migration_batch_is_counted_and_the_job_goes_on_to_the_end() -> None:
    result = _run_action(_MigratingPortal, "district_cutover", count=2)
    outcome = result.traffic
    assert outcome is not None and outcome.stopped_by is None
    # close axis, close portal, batches 1–4 (the second unanswered), the idempotent re-run
    assert (outcome.sent, outcome.as_expected) == (7, 6)
    assert dict(outcome.unexpected) == {"migration batch: RemoteProtocolError": 1}
    assert outcome.detail["migrated"] == 6 and outcome.detail["batches"] == 3
    assert "1 batch(es) unanswered: the migrated count may be short of what moved" in outcome.notes
    assert _MigratingPortal.calls == 5  # four batches and the re-run: the job retried after the lost one


class _LandingPortal(JsonHandler):
    """Dossiers D1 and D2 landed at commune 00004, D3 at 00007; 00007's worklist and the
    acceptance of D2 are left unanswered."""

    landings: ClassVar[list[dict[str, str]]] = [
        {"to_commune": "00004", "code": "D1"}, {"to_commune": "00004", "code": "D2"},
        {"to_commune": "00007", "code": "D3"},
    ]
    accepted: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
        if self.path == "/admin/migrations/district-tier":
            self.reply(200, {"landings": self.landings})
        elif self.path.startswith("/dossiers?"):
            account = self.headers["Authorization"].removeprefix("Bearer ")
            if account == officer_account("00007", 1):
                self.drop()
                return
            self.reply(200, {"items": [{"code": "D1"}, {"code": "D2"}], "next_cursor": None})
        else:
            self.reply(404, {"error": {"code": "not_found", "message": self.path, "field": "path"}})

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        body = self.read_body()
        if self.path == "/auth/token":
            self.reply(200, {"access_token": json.loads(body)["account"]})
        elif self.path == "/dossiers/D2/transitions":
            self.drop()
        else:
            type(self).accepted.append(self.path)
            self.reply(200, {"status": 2})


def test_an_unanswered_worklist_or_acceptance_is_counted_and_the_officers_go_on() -> None:
    result = _run_action(_LandingPortal, "successor_officers", count=1)
    outcome = result.traffic
    assert outcome is not None and outcome.stopped_by is None
    assert (outcome.sent, outcome.as_expected) == (3, 1)  # one answer per landed dossier
    assert dict(outcome.unexpected) == {"accept: RemoteProtocolError": 1,
                                        "worklist unanswered (RemoteProtocolError)": 1}
    assert _LandingPortal.accepted == ["/dossiers/D1/transitions"]
    assert "2 landing commune(s) worked" in outcome.notes


class _ReconcilingPortal(JsonHandler):
    """The successors' worklists for the reconciliation: the first successor's sign-in is left
    unanswered, the second's refused, the third's worklist refused; the others' worklists
    hold ``found``."""

    unanswered = ""
    refused = ""
    no_worklist = ""
    found: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        account = json.loads(self.read_body())["account"]
        if account == self.unanswered:
            self.drop()
        elif account == self.refused:
            self.reply(401, {"error": {"code": "invalid_credentials", "message": "no", "field": "password"}})
        else:
            self.reply(200, {"access_token": account})

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
        if self.headers["Authorization"] == f"Bearer {self.no_worklist}":
            self.reply(503, {"error": {"code": "unavailable", "message": "later", "field": None}})
            return
        self.reply(200, {"items": [{"code": code} for code in self.found], "next_cursor": None})


def test_the_reconciliation_notes_successors_it_could_not_sign_in_as_or_read_and_reads_the_others() -> None:
    district = district_tier().districts[2]
    first, second, third = (officer_account(c, 1) for c in sorted(district.successors)[:3])
    code = f"{district.unit_code}-250630-000001"
    _ReconcilingPortal.unanswered, _ReconcilingPortal.refused, _ReconcilingPortal.found = first, second, [code]
    _ReconcilingPortal.no_worklist = third
    with loopback_http_server(_ReconcilingPortal) as url:
        row, notes = reconcile_migration(url, "s", {code: "k1"}, timeout_s=5.0)
    assert f"{ITEM_KIND}: officer {first}'s sign-in unanswered (RemoteProtocolError)" in notes
    assert f"{ITEM_KIND}: officer {second}'s sign-in refused (401 invalid_credentials)" in notes
    assert f"{ITEM_KIND}: {sorted(district.successors)[2]}'s worklist refused (503 unavailable)" in notes
    read = len(district.successors) - 3
    assert notes[-1].endswith(f"{read} of {len(district.successors)} successor worklists read")
    # Every worklist read holds the dossier: it is in more than one, so duplicated, and named.
    assert row is not None and (row.ok, row.duplicated, row.duplicated_ids) == (0, 1, [code])
