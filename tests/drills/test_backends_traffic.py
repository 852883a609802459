"""Bounded drill-side traffic: each action against the real embedded mocks (what it sends,
what it counts as expected, what it hands back to the reconciliation), its bounds, and
the outcome's own arithmetic."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import httpx
import pytest

from dientap.orchestration import MockCluster
from drills.backends import TrafficBackend, TrafficOutcome
from drills.backends.protocol import FaultOutcome
from drills.backends.traffic import TrafficContext
from drills.backends.traffic_outcome import answered
from drills.model import Fault
from kernel.allowlist import Allowlist
from kernel.errors import TargetNotAllowed
from tests.support import JsonHandler, loopback_http_server, traffic_action_against


def _action(action: str, target: str = "portal", name: str | None = None, **traffic: object) -> Fault:
    return Fault.model_validate({"name": name or action, "backend": "traffic", "target": target, "at_s": 0,
                                 "duration_s": 30, "traffic": {"action": action, **traffic}})


def _run(backend: TrafficBackend, fault: Fault, window_s: float = 30.0) -> TrafficOutcome:
    return backend.run(fault, time.monotonic() + window_s)


@pytest.fixture
def traffic(traffic_context: TrafficContext, clean_cluster: MockCluster) -> Iterator[TrafficBackend]:
    backend = TrafficBackend(traffic_context)
    yield backend
    backend.close()


def _admin_ids(cluster: MockCluster, service: str, kind: str) -> set[str]:
    headers = {"Authorization": f"Bearer {cluster.config.admin_token}"}
    reply = httpx.get(f"{cluster.urls[service]}/admin/ledger", headers=headers, timeout=10)
    return set(reply.json()["ids"][kind])


# -- the outcome's arithmetic (no traffic) -------------------------------------------------


def test_an_outcome_is_ok_with_enough_expected_answers_and_something_sent() -> None:
    outcome = TrafficOutcome("submission_probe", min_success_ratio=0.8)
    assert not outcome.ok  # nothing sent proves nothing
    for i in range(10):
        outcome.record(i < 8, "503 service_unavailable")
    assert outcome.ok and (outcome.sent, outcome.as_expected) == (10, 8)
    outcome.record(False, "503 service_unavailable")
    assert not outcome.ok  # 8/11 < 0.8


def test_the_summary_names_the_most_common_surprises_the_p95_and_the_notes() -> None:
    outcome = TrafficOutcome("stale_documents")
    for ms in range(1, 21):
        outcome.record(True, "422 recipient_closed", float(ms))
    for label, times in (("201", 1), ("500 internal", 3), ("ReadTimeout", 2)):
        for _ in range(times):
            outcome.record(False, label)
    outcome.notes.append("window ended before every document was sent")
    assert outcome.summary() == ("stale_documents: 20/26 answers as expected; unexpected: 500 internal ×3, "
                                 "ReadTimeout ×2, 201 ×1; p95 20 ms; window ended before every document was sent")
    assert TrafficOutcome("document_burst").summary() == "document_burst: 0/0 answers as expected"


def test_drill_traffic_goes_to_allowlisted_hosts_only() -> None:
    elsewhere = TrafficContext(urls={"portal": "http://127.0.0.1:9", "axis": "https://axis.gov.example"}, secret="s",
                               seed=1, population_size=10, pki_dir=None, run_id="r", allowlist=Allowlist())
    with pytest.raises(TargetNotAllowed, match="axis host 'axis.gov.example' is not on the allowlist"):
        TrafficBackend(elsewhere)
    allowed = dataclasses.replace(elsewhere, allowlist=Allowlist(["axis.gov.example"]))
    TrafficBackend(allowed).close()


# -- each action against the embedded mocks ------------------------------------------------


@pytest.mark.e2e
def test_documents_to_abolished_district_committees_are_refused_with_the_reason(traffic: TrafficBackend) -> None:
    outcome = _run(traffic, _action("stale_documents", target="axis", count=4))
    assert (outcome.sent, outcome.as_expected, outcome.ok) == (4, 4, True)
    assert outcome.acknowledged == {} and len(outcome.latencies_ms) == 4
    wrong = _run(traffic, _action("stale_documents", target="axis", count=2, expect_code="certificate_expired"))
    assert (wrong.as_expected, dict(wrong.unexpected)) == (0, {"422 recipient_closed": 2})


@pytest.mark.e2e
def test_dossiers_with_pre_2025_commune_codes_are_refused(traffic: TrafficBackend) -> None:
    outcome = _run(traffic, _action("old_commune_dossiers", count=3))
    assert (outcome.sent, outcome.as_expected, outcome.acknowledged) == (3, 3, {})
    accepted = _run(traffic, _action("old_commune_dossiers", count=2, expect_status=[201]))
    assert accepted.as_expected == 0 and dict(accepted.unexpected) == {"422 commune_abolished": 2}


@pytest.mark.e2e
def test_a_document_burst_is_acknowledged_and_held_by_the_axis(traffic: TrafficBackend, clean_cluster: MockCluster) -> None:
    outcome = _run(traffic, _action("document_burst", target="axis", count=5))
    assert outcome.ok and outcome.sent == 5
    documents = outcome.acknowledged["documents"]
    assert len(documents) == 5
    notation = f"/DRILL-{traffic.ctx.run_id[-4:]}"
    assert all(message_id.endswith(notation) for message_id in documents.values())  # key: the envelope's id
    assert set(documents) <= _admin_ids(clean_cluster, "axis", "documents")


@pytest.mark.e2e
def test_a_submission_probe_during_an_outage_expects_503_with_retry_after(
    traffic: TrafficBackend, clean_cluster: MockCluster
) -> None:
    headers = {"Authorization": f"Bearer {clean_cluster.config.admin_token}"}
    httpx.post(f"{clean_cluster.urls['portal']}/admin/faults", headers=headers, timeout=10,
               json={"id": "outage", "kind": "outage", "route": "/dossiers", "method": "POST"}).raise_for_status()
    # The probe spreads its submissions over the window; on a busy machine fewer fit in, so
    # what is checked is that each one sent was answered as expected.
    refused = _run(traffic, _action("submission_probe", count=3, expect_status=[503]), window_s=1.0)
    assert refused.sent >= 1 and refused.as_expected == refused.sent
    assert (refused.acknowledged, refused.notes) == ({}, [])  # every 503 carried Retry-After
    surprised = _run(traffic, _action("submission_probe", count=1), window_s=0.3)  # expects 201 by default
    assert not surprised.ok and dict(surprised.unexpected) == {"503 service_unavailable": 1}
    httpx.delete(f"{clean_cluster.urls['portal']}/admin/faults", headers=headers, timeout=10)
    accepted = _run(traffic, _action("submission_probe", count=1), window_s=0.3)
    assert accepted.ok
    assert list(accepted.acknowledged["dossiers"].values()) == [f"{traffic.ctx.run_id}-drill-submission_probe-probe-0"]
    assert set(accepted.acknowledged["dossiers"]) <= _admin_ids(clean_cluster, "portal", "dossiers")


@pytest.mark.e2e
def test_a_second_submission_probe_in_the_same_drill_really_submits(
    traffic_context: TrafficContext, clean_cluster: MockCluster
) -> None:
    backend = TrafficBackend(dataclasses.replace(traffic_context, run_id="20260101-000000-r3pl"))  # a run of its own
    try:
        # Two steps of one drill: fault names are unique in a drill.
        before = _run(backend, _action("submission_probe", name="probe before", count=1), window_s=0.3)
        assert before.ok and before.acknowledged["dossiers"]  # accepted while the population service is up
        headers = {"Authorization": f"Bearer {clean_cluster.config.admin_token}"}
        httpx.post(f"{clean_cluster.urls['population']}/admin/faults", headers=headers, timeout=10,
                   json={"id": "down", "kind": "outage"}).raise_for_status()
        during = _run(backend, _action("submission_probe", name="probe during", count=1, expect_status=[503]),
                      window_s=0.3)
        assert dict(during.unexpected) == {} and during.ok  # the portal cannot verify anyone: it must refuse
    finally:
        backend.close()


@pytest.mark.e2e
def test_an_officer_login_storm_signs_in_every_officer_concurrently(traffic: TrafficBackend) -> None:
    outcome = _run(traffic, _action("officer_login_storm", count=12, concurrency=4))
    assert (outcome.sent, outcome.as_expected, len(outcome.latencies_ms)) == (12, 12, 12)
    late = _run(traffic, _action("officer_login_storm", count=3), window_s=0)
    assert (late.as_expected, dict(late.unexpected)) == (0, {"window ended": 3})


@pytest.mark.e2e
def test_expired_signers_are_refused_and_control_signers_are_not(traffic: TrafficBackend) -> None:
    outcome = _run(traffic, _action("expiring_certificates", target="axis", count=4, agencies=1, expire_after_s=3))
    assert outcome.ok and (outcome.sent, outcome.as_expected) == (3, 3)  # 1 before expiry, 1 expired, 1 control
    assert len(outcome.acknowledged["documents"]) == 2  # the expired signer's document was refused
    assert outcome.notes[0].startswith("1 signers expired at ") and outcome.notes[0].endswith("Z, 1 control signers")
    short = _run(traffic, _action("expiring_certificates", target="axis", count=2, agencies=1, expire_after_s=600),
                 window_s=0.5)
    assert short.notes == ["window ended before the certificates expired"] and short.sent == 1


@pytest.mark.e2e
def test_a_window_already_over_sends_nothing_and_says_so(traffic: TrafficBackend) -> None:
    outcome = _run(traffic, _action("document_burst", target="axis", count=5), window_s=0)
    assert (outcome.sent, outcome.ok, outcome.notes) == (0, False, ["window ended before every document was sent"])
    dossiers = _run(traffic, _action("old_commune_dossiers", count=5), window_s=0)
    assert (dossiers.sent, dossiers.notes) == (0, ["window ended before every dossier was sent"])


@pytest.mark.e2e
def test_without_the_dry_run_ca_no_document_can_be_signed(traffic_context: TrafficContext) -> None:
    backend = TrafficBackend(dataclasses.replace(traffic_context, pki_dir=None))
    try:
        for action in ("stale_documents", "document_burst", "expiring_certificates"):
            outcome = _run(backend, _action(action, target="axis", count=2))
            assert (outcome.sent, outcome.notes) == (0, ["no PKI directory: cannot sign documents"]), action
    finally:
        backend.close()


@pytest.mark.e2e
def test_sign_in_refusals_are_counted_not_raised(traffic_context: TrafficContext) -> None:
    backend = TrafficBackend(dataclasses.replace(traffic_context, secret="not-the-dry-run-secret"))
    try:
        documents = _run(backend, _action("document_burst", target="axis", count=3))
        assert (documents.sent, dict(documents.unexpected)) == (3, {"sign-in refused (401 invalid_credentials)": 3})
        dossiers = _run(backend, _action("submission_probe", count=2), window_s=0.3)
        assert dict(dossiers.unexpected) == {"citizen sign-in refused (401 invalid_credentials)": 2}
        storm = _run(backend, _action("officer_login_storm", count=2))
        assert storm.as_expected == 0 and sum(storm.unexpected.values()) == 2
    finally:
        backend.close()


@pytest.mark.e2e
def test_a_reset_connection_is_an_unexpected_answer_not_a_crash(traffic: TrafficBackend, clean_cluster: MockCluster) -> None:
    headers = {"Authorization": f"Bearer {clean_cluster.config.admin_token}"}
    httpx.post(f"{clean_cluster.urls['axis']}/admin/faults", headers=headers, timeout=10,
               json={"id": "resets", "kind": "reset", "route": "/documents", "method": "POST"}).raise_for_status()
    outcome = _run(traffic, _action("document_burst", target="axis", count=3))
    assert (outcome.sent, outcome.as_expected, outcome.acknowledged) == (3, 0, {})
    for label in outcome.unexpected:
        assert issubclass(getattr(httpx, label), httpx.TransportError), label


@pytest.mark.e2e
@pytest.mark.parametrize("action", ["old_commune_dossiers", "submission_probe"])
def test_a_reset_dossier_submission_is_an_unexpected_answer_not_a_crash(
    traffic: TrafficBackend, clean_cluster: MockCluster, action: str
) -> None:
    headers = {"Authorization": f"Bearer {clean_cluster.config.admin_token}"}
    httpx.post(f"{clean_cluster.urls['portal']}/admin/faults", headers=headers, timeout=10,
               json={"id": "resets", "kind": "reset", "route": "/dossiers", "method": "POST"}).raise_for_status()
    outcome = _run(traffic, _action(action, count=2), window_s=5.0)  # clean_cluster clears the fault
    assert (outcome.sent, outcome.as_expected, outcome.acknowledged) == (2, 0, {})
    for label in outcome.unexpected:
        assert issubclass(getattr(httpx, label), httpx.TransportError), label


# -- answered: one request's answer, a transport error included (real loopback HTTP) -------


class _Refusing(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        self.read_body()
        self.reply(422, {"error": {"code": "recipient_closed", "message": "closed", "field": "to"}})


def test_answered_labels_an_answer_by_status_and_code_and_a_dead_port_as_the_transport_error() -> None:
    with loopback_http_server(_Refusing) as url, httpx.Client(timeout=5) as client:
        response, status, label = answered(client.post, f"{url}/documents", json={})
        assert response is not None and (status, label) == (422, "422 recipient_closed")
        dead = url  # the server is shut down when the block ends
    with httpx.Client(timeout=5) as client:
        assert answered(client.post, f"{dead}/documents", json={}) == (None, 0, "ConnectError")


class _FlakyPortal(JsonHandler):
    """A portal that signs citizens in and accepts their dossiers, except that it drops the
    connection without answering at sign-in number ``drop_sign_in`` and answers dossier
    number ``broken_dossier`` with a 201 that carries no code (0: never). Subclasses set
    both; the counters are per subclass."""

    drop_sign_in = 0
    broken_dossier = 0
    sign_ins = 0
    dossiers = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
        self.reply(200, {"procedures": [{"code": "1.001"}]})

    def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
        self.read_body()
        cls = type(self)
        if self.path == "/auth/token":
            cls.sign_ins += 1
            if cls.sign_ins == cls.drop_sign_in:
                self.drop()
                return
            self.reply(200, {"access_token": f"t{cls.sign_ins}"})
        else:
            cls.dossiers += 1
            self.reply(201, {} if cls.dossiers == cls.broken_dossier else {"code": f"D-{cls.dossiers}"})


def _probe_against(handler: type[_FlakyPortal], count: int) -> FaultOutcome:
    return traffic_action_against(handler, _action("submission_probe", count=count), window_s=1.0)


class _DropsTheThirdSignIn(_FlakyPortal):
    drop_sign_in = 3


def test_a_sign_in_left_unanswered_is_counted_and_the_action_goes_on() -> None:
    result = _probe_against(_DropsTheThirdSignIn, count=5)
    outcome = result.traffic
    assert outcome is not None and outcome.stopped_by is None
    assert (outcome.sent, outcome.as_expected) == (5, 4)
    assert dict(outcome.unexpected) == {"citizen sign-in unanswered (RemoteProtocolError)": 1}
    assert sorted(outcome.acknowledged["dossiers"]) == ["D-1", "D-2", "D-3", "D-4"]
    assert not result.ok  # the probe expects every answer: one unanswered sign-in fails it


class _BreaksTheThirdDossier(_FlakyPortal):
    broken_dossier = 3


def test_an_action_stopped_by_an_error_fails_and_keeps_what_was_acknowledged_before() -> None:
    result = _probe_against(_BreaksTheThirdDossier, count=5)
    outcome = result.traffic
    assert outcome is not None and not result.ok and not outcome.ok
    assert (outcome.sent, outcome.as_expected) == (3, 3)  # it would pass on its answers alone
    assert sorted(outcome.acknowledged["dossiers"]) == ["D-1", "D-2"]  # for the reconciliation
    assert outcome.stopped_by == "KeyError: 'code'"
    assert outcome.summary().endswith(f"; stopped by {outcome.stopped_by}")
