"""Bounded drill-side traffic: requests the personas never send, sent by the drill with httpx.

These are the drills' *acting probes*: documents addressed to abolished district-level
agencies, dossiers filed with pre-2025 commune codes, signers whose certificates expire
mid-run, submissions during a dependency outage, and an officer login storm. Every
action is bounded in count (``TrafficAction.count`` ≤ 2,000) and in time (it stops at
the end of its window), goes only to allowlisted hosts, and reports each answer it did
not expect. Anything the target acknowledged is handed back so the reconciliation counts
it as sent (not as ``unexpected``).

As a :class:`~drills.backends.protocol.FaultBackend` it runs until its deadline: ``start``
runs the action in its own thread, ``stop`` waits for it and hands back its outcome.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from drills.backends import golive_night
from drills.backends.http import fault_id
from drills.backends.protocol import FaultOutcome, LeftBehind
from drills.backends.traffic_outcome import Judge, TrafficOutcome, answered, failed_label, token_of
from drills.model import Fault, TrafficAction
from kernel.allowlist import Allowlist
from kernel.credentials import derive_password, officer_account
from kernel.edxml import Attachment, DocumentEnvelope, build_package, make_document_id
from kernel.roster import Province, Roster, load_roster
from kernel.synthetic import Citizen, citizen_at

if TYPE_CHECKING:
    from kernel.pki import DryRunCA

__all__ = ["TrafficBackend", "TrafficOutcome", "TrafficContext"]

#: How long :meth:`TrafficBackend.stop` waits for an action past its deadline (it stops at its own deadline).
STOP_WAIT_S = 30.0


@dataclass
class TrafficContext:
    """What the drill's own traffic needs to reach and sign in to the target."""

    urls: dict[str, str]
    secret: str
    seed: int
    population_size: int
    pki_dir: Path | None
    run_id: str
    allowlist: Allowlist
    admin_token: str | None = None  # the go-live-night cut-over runs the mocks' admin operations


@dataclass
class _Running:
    """One action running in its own thread; ``outcome`` is set when it ends."""

    thread: threading.Thread
    outcome: TrafficOutcome | None = None


class TrafficBackend:
    """Runs :class:`TrafficAction` steps against the target (allowlisted hosts only)."""

    runs_until_deadline = True

    def __init__(self, ctx: TrafficContext, roster: Roster | None = None, *, timeout_s: float = 10.0):
        for service, url in ctx.urls.items():
            ctx.allowlist.check_url(url, what=service)
        self.ctx = ctx
        self.roster = roster or load_roster()
        self._http = httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=64))
        self._ca: DryRunCA | None = None  # loaded lazily (cryptography is heavy)
        self.running: dict[str, _Running] = {}  # fault name → its action's thread (names are unique in a drill)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    # -- the FaultBackend face ----------------------------------------------------------

    def start(self, fault: Fault, deadline: float) -> dict[str, str | int | float | bool | None]:
        """Run ``fault``'s action in its own thread (``drill-traffic-<name>``) until done or ``deadline``."""
        def act() -> None:
            outcome = self.new_outcome(fault)
            try:
                self.run(fault, deadline, outcome)
            except Exception as exc:  # noqa: BLE001 - reported as this action's failure
                # What it saw before is kept: acknowledged items must still reach the reconciliation.
                outcome.stopped_by = f"{type(exc).__name__}: {exc}"
            running.outcome = outcome

        running = _Running(threading.Thread(target=act, name=f"drill-traffic-{fault.name}", daemon=True))
        self.running[fault.name] = running
        running.thread.start()
        return {}

    def stop(self, fault: Fault) -> FaultOutcome:
        """Wait (bounded) for ``fault``'s action to end; its outcome, judged by its own success ratio."""
        running = self.running.get(fault.name)
        if running is not None:
            running.thread.join(STOP_WAIT_S)  # bounded: the action stops at its own deadline
        outcome = running.outcome if running is not None else None
        if outcome is None:
            return FaultOutcome("no outcome (still running?)", ok=False)
        return FaultOutcome(outcome.summary(), ok=outcome.ok,
                            detail={"sent": outcome.sent, "as_expected": outcome.as_expected}, traffic=outcome)

    def clear_all(self) -> dict[str, int | str]:
        """Nothing to roll back: drill-side traffic changes nothing on the target (each action ends at its deadline)."""
        return {}

    def left_behind(self, *, embedded: bool) -> LeftBehind:
        """Nothing: drill-side traffic leaves nothing in force on the target."""
        return LeftBehind()

    # -- helpers ------------------------------------------------------------------------

    def _ca_or_none(self) -> DryRunCA | None:
        if self._ca is None and self.ctx.pki_dir is not None:
            from kernel.pki import DryRunCA

            self._ca = DryRunCA.load_or_create(self.ctx.pki_dir)
        return self._ca

    def _axis_token(self, agency_code: str) -> tuple[str | None, str]:
        """The agency's token, or ``None`` and the label to record for what it cannot send."""
        return token_of(answered(self._http.post, f"{self.ctx.urls['axis']}/auth/token", json={
            "agency_code": agency_code, "client_secret": derive_password(self.ctx.secret, agency_code)}), "sign-in")

    def _envelope(self, sender: str, recipients: list[str], number: int, subject: str) -> DocumentEnvelope:
        today = dt.date.today()
        notation = f"DRILL-{self.ctx.run_id[-4:]}"
        return DocumentEnvelope(
            message_id=make_document_id(sender, today, number, notation), sender_code=sender,
            sender_name=f"UBND {sender}", recipients=recipients, code_number=str(number), code_notation=notation,
            promulgation_place="Hà Nội", promulgation_date=today, document_type="Công văn", subject=subject,
            attachments=[Attachment("noi-dung.txt", "text/plain", subject.encode("utf-8"))],
        )

    def _send_document(self, token: str, package: bytes) -> httpx.Response:
        return self._http.post(f"{self.ctx.urls['axis']}/documents", content=package,
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"})

    def _citizen_token(self, index: int) -> tuple[str | None, str, Citizen]:
        """The citizen at ``index`` and their token, or ``None`` and the label to record."""
        citizen = citizen_at(self.ctx.seed, index % self.ctx.population_size, self.roster)
        token, why = token_of(answered(self._http.post, f"{self.ctx.urls['portal']}/auth/token", json={
            "kind": "citizen", "personal_id": citizen.personal_id,
            "password": derive_password(self.ctx.secret, citizen.personal_id)}), "citizen sign-in")
        return token, why, citizen

    def _procedure(self, province: str) -> tuple[str | None, str]:
        """A published procedure of ``province``, or ``None`` and the label to record."""
        response, status, label = answered(self._http.get, f"{self.ctx.urls['portal']}/procedures",
                                           params={"province": province})
        if response is None or status != 200:
            return None, failed_label("catalogue", status, label)
        try:
            procedures = response.json().get("procedures", [])
            return (procedures[0]["code"], "") if procedures else (None, "no published procedure")
        except (ValueError, AttributeError, LookupError, TypeError):
            return None, "catalogue: not the catalogue's JSON"

    def applicant(self, index: int, procedures: dict[str, str], out: TrafficOutcome, *,
                  province: str | None = None) -> tuple[str, Citizen, str] | None:
        """A signed-in citizen and a procedure of ``province`` (default: the citizen's own);
        ``procedures`` caches the catalogue per province, answers only — a failed look-up is
        asked again for the next applicant, as a citizen retrying would. A failure is recorded
        in ``out`` (refused, or unanswered and why) and gives ``None``."""
        token, why, citizen = self._citizen_token(index)
        if token is None:
            out.record(False, why)
            return None
        province = province or citizen.province_code
        if province not in procedures:
            procedure, why = self._procedure(province)
            if procedure is None:
                out.record(False, why)
                return None
            procedures[province] = procedure
        return token, citizen, procedures[province]

    @staticmethod
    def _dossier(citizen: Citizen, procedure: str, commune_code: str) -> dict[str, object]:
        """The body of ``POST /dossiers`` for ``citizen`` at ``commune_code``."""
        return {"procedure_code": procedure, "commune_code": commune_code, "channel": 2, "fields": {}, "applicant": {
            "personal_id": citizen.personal_id, "full_name": citizen.full_name,
            "date_of_birth": citizen.date_of_birth.isoformat()}}

    # -- actions ------------------------------------------------------------------------

    @staticmethod
    def new_outcome(fault: Fault) -> TrafficOutcome:
        """An empty outcome for ``fault``'s action, judged by its success ratio."""
        spec = fault.traffic
        assert spec is not None  # nosec B101 - a traffic backend is only given traffic faults
        return TrafficOutcome(spec.action, min_success_ratio=spec.min_success_ratio)

    def run(self, fault: Fault, deadline: float, outcome: TrafficOutcome | None = None) -> TrafficOutcome:
        """Run ``fault.traffic`` until done or ``deadline`` (``time.monotonic()``), counting
        into ``outcome`` (a new one by default) as it goes."""
        spec = fault.traffic
        assert spec is not None  # nosec B101
        if outcome is None:
            outcome = self.new_outcome(fault)
        if spec.action == "submission_probe":  # its idempotency keys name the step (see there)
            self._submission_probe(spec, outcome, deadline, step=fault_id(fault))
        else:
            getattr(self, f"_{spec.action}")(spec, outcome, deadline)
        return outcome

    def send_documents(
        self, count: int, out: TrafficOutcome, deadline: float, *, number_base: int, subject: str,
        address: Callable[[int], tuple[str, str]], judge: Judge,
    ) -> None:
        """Send ``count`` signed documents, each from and to the agencies ``address(i)`` names.

        ``judge(i, status, label, response)`` says whether the axis answered the i-th as
        the drill expects and what to record; an acknowledged document (200/201) is recorded
        for reconciliation whatever the judge says. Bounded by count and ``deadline``; a
        transport error is an answer (``0``, its type), never the end of the action.
        """
        ca = self._ca_or_none()
        if ca is None:
            out.notes.append("no PKI directory: cannot sign documents")
            return
        tokens: dict[str, tuple[str | None, str]] = {}
        for i in range(count):
            if time.monotonic() >= deadline:
                out.notes.append("window ended before every document was sent")
                break
            sender, recipient = address(i)
            if sender not in tokens:
                tokens[sender] = self._axis_token(sender)
            token, why = tokens[sender]
            if token is None:
                out.record(False, why)
                continue
            envelope = self._envelope(sender, [recipient], number_base + i, subject)
            started = time.perf_counter()
            response, status, label = answered(self._send_document, token, build_package(envelope, ca.issue(sender)))
            ok, recorded = judge(i, status, label, response)
            out.record(ok, recorded, (time.perf_counter() - started) * 1000)
            if status in (200, 201) and response is not None:
                out.acknowledged.setdefault("documents", {})[response.json()["document_id"]] = envelope.message_id

    def _province_documents(
        self, spec: TrafficAction, out: TrafficOutcome, deadline: float, *, number_base: int, subject: str,
        recipient: Callable[[Province, int], str], accepted: Callable[[int, str], bool],
    ) -> None:
        """``spec.count`` documents, one provincial sender after another, to ``recipient(province, i)``."""
        provinces = self.roster.provinces

        def address(i: int) -> tuple[str, str]:
            province = provinces[i % len(provinces)]
            return province.agency_code, recipient(province, i)

        self.send_documents(spec.count, out, deadline, number_base=number_base, subject=subject, address=address,
                            judge=lambda _i, status, label, _response: (accepted(status, label), label))

    def _stale_documents(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        """Documents addressed to closed pre-2025 district committees: refused with a reason."""
        expect = set(spec.expect_status or [422])
        code = spec.expect_code or "recipient_closed"

        def closed_committee(province: Province, i: int) -> str:
            closed = province.closed_district_agency_codes
            return closed[i % len(closed)]

        self._province_documents(
            spec, out, deadline, number_base=900_000, subject="Văn bản gửi UBND cấp huyện (đã giải thể)",
            recipient=closed_committee, accepted=lambda status, label: status in expect and label.endswith(code),
        )

    def _old_commune_dossiers(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        expect = set(spec.expect_status or [422])
        code = spec.expect_code or "commune_abolished"
        # Only old codes that no 2025 commune reuses: a reused code is a valid address today.
        current = {c.code for c in self.roster.communes}
        old_codes = sorted(c for c in self.roster.old_commune_splits if c not in current)
        procedures: dict[str, str] = {}
        for i in range(spec.count):
            if time.monotonic() >= deadline:
                out.notes.append("window ended before every dossier was sent")
                break
            applicant = self.applicant(7_000 + i, procedures, out)
            if applicant is None:
                continue
            token, citizen, procedure = applicant
            old = old_codes[(i * 7919) % len(old_codes)]
            key = f"{self.ctx.run_id}-drill-old-{i}"
            started = time.perf_counter()
            response, status, label = answered(
                self._http.post, f"{self.ctx.urls['portal']}/dossiers",
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                json=self._dossier(citizen, procedure, old),
            )
            out.record(status in expect and label.endswith(code), label, (time.perf_counter() - started) * 1000)
            if status in (200, 201) and response is not None:
                out.acknowledged.setdefault("dossiers", {})[response.json()["code"]] = key

    def _submission_probe(self, spec: TrafficAction, out: TrafficOutcome, deadline: float, *, step: str) -> None:
        expect = set(spec.expect_status or [201])
        sent = 0
        pause = max(0.0, (deadline - time.monotonic()) / (spec.count + 1))  # spread over the window
        procedures: dict[str, str] = {}
        missing_retry_after = 0
        for i in range(spec.count):
            if time.monotonic() >= deadline:
                break
            applicant = self.applicant(11_000 + i, procedures, out)
            if applicant is None:
                continue
            token, citizen, procedure = applicant
            # The step's id (distinct per fault name) in the key: a drill's second probe must really
            # submit, not replay the answers stored for the first one's keys.
            key = f"{self.ctx.run_id}-{step}-probe-{i}"
            started = time.perf_counter()
            response, status, label = answered(
                self._http.post, f"{self.ctx.urls['portal']}/dossiers",
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                json=self._dossier(citizen, procedure, citizen.commune_code),
            )
            graceful = status not in (429, 503) or (response is not None and "retry-after" in response.headers)
            if not graceful:
                missing_retry_after += 1
            out.record(status in expect and graceful, label, (time.perf_counter() - started) * 1000)
            if status in (200, 201) and response is not None:
                out.acknowledged.setdefault("dossiers", {})[response.json()["code"]] = key
            sent += 1
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        if missing_retry_after:
            out.notes.append(f"{missing_retry_after} refusals without Retry-After")

    def _expiring_certificates(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        ca = self._ca_or_none()
        if ca is None:
            out.notes.append("no PKI directory: cannot sign documents")
            return
        communes = [c for p in self.roster.provinces for c in self.roster.communes_of(p.code)[1:2]]
        expiring = communes[: spec.agencies]
        control = communes[spec.agencies : 2 * spec.agencies]
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        expires_at = now + dt.timedelta(seconds=max(2, round(spec.expire_after_s)))
        credentials = {c.agency_code: ca.issue(c.agency_code, not_after=expires_at) for c in expiring}
        tokens = {c.agency_code: self._axis_token(c.agency_code) for c in expiring + control}
        recipient = self.roster.province(expiring[0].province_code).agency_code if expiring else ""
        number = 950_000

        def send(agency: str, phase: str, expect_ok: bool) -> None:
            nonlocal number
            number += 1
            token, why = tokens[agency]
            if token is None:
                out.record(False, f"{phase}: {why}")
                return
            envelope = self._envelope(agency, [recipient], number, f"Báo cáo ({phase})")
            credential = credentials.get(agency) or ca.issue(agency)
            started = time.perf_counter()
            response, status, label = answered(self._send_document, token, build_package(envelope, credential))
            ok = status in (200, 201) if expect_ok else label.endswith(spec.expect_code or "certificate_expired")
            out.record(ok, f"{phase}: {label}", (time.perf_counter() - started) * 1000)
            if status in (200, 201) and response is not None:
                out.acknowledged.setdefault("documents", {})[response.json()["document_id"]] = envelope.message_id

        rounds = max(1, spec.count // max(1, 2 * len(expiring + control)))
        for _ in range(rounds):
            for c in expiring:
                send(c.agency_code, "before expiry", True)
        # Wait (bounded by the window) until the certificates have expired, plus one second of margin.
        wait = (expires_at - dt.datetime.now(dt.UTC)).total_seconds() + 1.0
        if wait > 0:
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        if dt.datetime.now(dt.UTC) <= expires_at:
            out.notes.append("window ended before the certificates expired")
            return
        for _ in range(rounds):
            for c in expiring:
                send(c.agency_code, "expired signer", False)
            for c in control:
                send(c.agency_code, "valid signer", True)
        out.notes.append(f"{len(expiring)} signers expired at {expires_at:%H:%M:%S}Z, {len(control)} control signers")

    def _officer_login_storm(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        communes = [c for p in self.roster.provinces for c in self.roster.communes_of(p.code)]
        accounts = [officer_account(communes[i % len(communes)].code, 1 + (i // len(communes)) % 5) for i in range(spec.count)]
        expect = set(spec.expect_status or [200])

        def sign_in(account: str) -> tuple[bool, str, float]:
            if time.monotonic() >= deadline:
                return False, "window ended", 0.0
            started = time.perf_counter()
            _, status, label = answered(self._http.post, f"{self.ctx.urls['portal']}/auth/token", json={
                "kind": "officer", "account": account, "password": derive_password(self.ctx.secret, account)})
            return status in expect, label, (time.perf_counter() - started) * 1000

        with ThreadPoolExecutor(max_workers=spec.concurrency) as pool:
            for ok, label, ms in pool.map(sign_in, accounts):
                out.record(ok, label, ms)

    def _document_burst(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        """A burst of directives from provinces to their communes: accepted."""
        expect = set(spec.expect_status or [201])

        def commune_committee(province: Province, i: int) -> str:
            communes = province.commune_codes
            return self.roster.commune(communes[i % len(communes)]).agency_code

        self._province_documents(
            spec, out, deadline, number_base=800_000, subject="Chỉ đạo triển khai (đợt gửi của diễn tập)",
            recipient=commune_committee, accepted=lambda status, _label: status in expect,
        )

    # -- the go-live night (drills/backends/golive_night.py) ----------------------------

    def _district_dossiers(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        golive_night.district_dossiers(self, spec, out, deadline)

    def _district_cutover(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        golive_night.district_cutover(self, spec, out, deadline)

    def _closed_district_documents(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        golive_night.closed_district_documents(self, spec, out, deadline)

    def _successor_officers(self, spec: TrafficAction, out: TrafficOutcome, deadline: float) -> None:
        golive_night.successor_officers(self, spec, out, deadline)
