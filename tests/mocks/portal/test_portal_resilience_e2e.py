"""End to end: population outage, readiness profile, restarts, planted weaknesses."""

from __future__ import annotations

import json
import signal
import ssl
import time

import httpx
import pytest

from kernel.credentials import DEFAULT_DRY_RUN_SECRET, derive_password
from mocks.portal.catalogue import catalogue_of

from .conftest import (
    POPULATION_SIZE,
    ServiceProcess,
    bearer,
    citizen,
    dossier_body,
    free_port,
    ledger,
    login_citizen,
    login_officer,
    portal_process,
)

pytestmark = pytest.mark.e2e


def _free(province: str) -> str:
    return next(p.code for p in catalogue_of(province) if p.fee_vnd == 0)


def _submit(client, token, person, key, procedure=None):
    body = dossier_body(person, procedure or _free(person.province_code))
    return client.post("/dossiers", json=body, headers={**bearer(token), "Idempotency-Key": key})


def _pay_fees_due(client, person, key: str) -> tuple[str, str, str, httpx.Response]:
    """A fee dossier of ``person`` moved to "fees due" by an officer and paid: (code, the
    citizen's token, the officer's, the payment's answer)."""
    procedure = next(p for p in catalogue_of(person.province_code) if p.fee_vnd > 0)
    token = login_citizen(client, person)
    code = _submit(client, token, person, key, procedure.code).json()["code"]
    officer = login_officer(client, person.commune_code)
    for to in (2, 4, 6):
        assert client.post(f"/dossiers/{code}/transitions", json={"to": to}, headers=bearer(officer)).status_code == 200
    payment = client.post(f"/dossiers/{code}/payments", headers={**bearer(token), "Idempotency-Key": f"{key}-pay"})
    assert payment.status_code == 201, payment.text
    return code, token, officer, payment


def test_population_down_means_503_nothing_stored_then_retry_succeeds(tmp_path):
    population_port = free_port()  # nothing listens here yet
    portal = portal_process(tmp_path, f"http://127.0.0.1:{population_port}").start()
    population = ServiceProcess("population", population_port, tmp_path / "population",
                                ["--population-size", str(POPULATION_SIZE)])  # fmt: skip
    try:
        with httpx.Client(base_url=portal.url, timeout=5) as client:
            person = citizen(40)
            token = login_citizen(client, person)
            r = _submit(client, token, person, "outage-40")
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "identity_service_unavailable"
            assert int(r.headers["retry-after"]) > 0
            assert ledger(client)["counts"]["dossiers"] == 0
            population.start()
            retry = _submit(client, token, person, "outage-40")  # the 503 was not remembered
            assert retry.status_code == 201, retry.text
            assert ledger(client)["ids"]["dossiers"] == [retry.json()["code"]]
    finally:
        portal.stop()
        population.stop()


def test_readiness_profile_unready_provinces(tmp_path, population):
    person = next(citizen(i) for i in range(50, 500) if citizen(i).province_code not in ("04",))
    offline = next(citizen(i) for i in range(50, 500) if citizen(i).province_code not in ("04", person.province_code))
    profile = tmp_path / "readiness.yaml"
    profile.write_text(
        "provinces:\n"
        '  "04": {accounts_issued: false, catalogue_published: false}\n'
        f'  "{person.province_code}": {{population_connected: false}}\n'
        f'  "{offline.province_code}": {{connected: false}}\n',
        encoding="utf-8",
    )
    portal = portal_process(tmp_path, population.url, "--readiness", str(profile)).start()
    try:
        with httpx.Client(base_url=portal.url, timeout=5) as client:
            from kernel.roster import load_roster

            commune_04 = load_roster().province("04").commune_codes[0]
            account = f"{commune_04}.officer1"
            r = client.post("/auth/token", json={"kind": "officer", "account": account,
                                                 "password": derive_password(DEFAULT_DRY_RUN_SECRET, account)})
            assert r.status_code == 403 and r.json()["error"]["code"] == "accounts_not_issued"
            r = client.get("/procedures", params={"province": "04"})
            assert r.status_code == 200 and r.json() == {**r.json(), "published": False, "procedures": []}
            token = login_citizen(client, person)
            r = _submit(client, token, person, "unready")
            assert r.status_code == 503 and r.json()["error"]["code"] == "identity_service_unavailable"
            r = _submit(client, login_citizen(client, offline), offline, "offline")
            assert r.status_code == 503 and r.json()["error"]["code"] == "province_not_connected"
            assert "retry-after" in r.headers
            assert ledger(client)["counts"]["dossiers"] == 0
    finally:
        portal.stop()


def test_acknowledged_state_survives_sigkill_and_pending_payments_complete_after_restart(tmp_path, population):
    portal = portal_process(tmp_path, population.url, payment_callback_delay_s=3600).start()
    person = citizen(60)
    try:
        with httpx.Client(base_url=portal.url, timeout=5) as client:
            code, _, _, payment = _pay_fees_due(client, person, "crash-60")
            revoked = login_citizen(client, citizen(61))
            assert client.post("/auth/logout", headers=bearer(revoked)).status_code == 200
        portal.proc.send_signal(signal.SIGKILL)
        portal.proc.wait()

        restarted = ServiceProcess("portal", portal.port, portal.data_dir,
                                   [a if '"payment_callback_delay_s": 3600' not in a else
                                    json.dumps({**json.loads(a), "payment_callback_delay_s": 0.1})
                                    for a in portal.args])  # fmt: skip
        portal = restarted.start()
        with httpx.Client(base_url=portal.url, timeout=5) as client:
            assert code in ledger(client)["ids"]["dossiers"]
            assert client.get("/dossiers/x", headers=bearer(revoked)).status_code == 401  # revocation persisted
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if client.get(f"/public/dossiers/{code}", params={"personal_id": person.personal_id}).json()["status"] == 4:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("re-scheduled payment callback never moved the dossier to 4")
            assert payment.json()["payment_id"] in ledger(client)["ids"]["payments"]
            # The code sequence continues after the crash instead of reusing an acknowledged code.
            token = login_citizen(client, person)
            after = _submit(client, token, person, "after-crash-60")
            assert after.status_code == 201, after.text
            new_code = after.json()["code"]
            assert new_code != code
            if new_code[:-6] == code[:-6]:  # same commune and day (not across midnight in Vietnam)
                assert int(new_code[-6:]) == int(code[-6:]) + 1
    finally:
        portal.stop()


def test_planted_weaknesses_only_when_asked(tmp_path, population):
    portal = portal_process(tmp_path, population.url, "--vulnerable", "no_lockout,bola_dossier_read,mass_assignment").start()
    try:
        with httpx.Client(base_url=portal.url, timeout=5) as client:
            statuses = {client.post("/auth/token", json={"kind": "officer", "account": "00004.officer1",
                                                         "password": "guess"}).status_code for _ in range(8)}  # fmt: skip
            assert statuses == {401}  # no lockout
            owner, stranger = citizen(70), citizen(71)
            code = _submit(client, login_citizen(client, owner), owner, "vuln-70").json()["code"]
            r = client.get(f"/dossiers/{code}", headers=bearer(login_citizen(client, stranger)))
            assert r.status_code == 200  # BOLA, as planted
            planted = dossier_body(owner, _free(owner.province_code), status=9)
            r = client.post("/dossiers", json=planted,
                            headers={**bearer(login_citizen(client, owner)), "Idempotency-Key": "mass"})
            assert r.status_code == 201 and r.json()["status"] == 9  # mass assignment, as planted
    finally:
        portal.stop()


def _serve_on_inherited_socket(tmp_path, port: int, population_url: str, tls_dir, delay_s: float):
    """The portal as ``dientap mocks`` starts it: on a socket bound by its supervisor
    (``--fd``, no ``--port``), here over mutual TLS."""
    import os
    import socket
    import subprocess
    import sys

    from .conftest import ADMIN_TOKEN, SEED

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    settings = {"payment_callback_delay_s": delay_s, "upstream_client_cert": str(tls_dir / "client.pem"),
                "upstream_client_key": str(tls_dir / "client.key")}
    log = open(tmp_path / "portal-fd.log", "ab")  # noqa: SIM115 - closed by the OS
    proc = subprocess.Popen(  # nosec B603 - fixed argv, our own interpreter
        [sys.executable, "-m", "mocks", "serve", "portal", "--fd", str(sock.fileno()), "--data-dir", str(tmp_path / "data"),
         "--seed", str(SEED), "--population-url", population_url, "--settings-json", json.dumps(settings),
         "--tls-cert", str(tls_dir / "server.pem"), "--tls-key", str(tls_dir / "server.key"),
         "--tls-client-ca", str(tls_dir / "ca" / "ca.pem")],
        env={**os.environ, "DIENTAP_ADMIN_TOKEN": ADMIN_TOKEN}, pass_fds=(sock.fileno(),), stdout=log,
        stderr=subprocess.STDOUT)  # fmt: skip
    sock.close()
    return proc


def test_payments_complete_over_mutual_tls_on_an_inherited_socket_even_after_a_crash(tmp_path, population):
    """The intermediary calls the portal back where it really listens (the inherited
    socket's port, not the default 8701) and as it really listens (https, with a client
    certificate): before, such callbacks went to http://127.0.0.1:8701 and the payment
    stayed pending for good."""
    from kernel.pki import DryRunCA, issue_tls

    tls_dir = tmp_path / "tls"
    ca = DryRunCA.load_or_create(tls_dir / "ca")
    issue_tls(ca, "portal", hosts=("127.0.0.1",)).write(tls_dir, "server")
    issue_tls(ca, "client", client=True).write(tls_dir, "client")
    port = free_port()
    person = citizen(62)

    def client() -> httpx.Client:
        context = ssl.create_default_context(cafile=str(tls_dir / "ca" / "ca.pem"))
        context.load_cert_chain(str(tls_dir / "client.pem"), str(tls_dir / "client.key"))
        return httpx.Client(base_url=f"https://127.0.0.1:{port}", timeout=5, verify=context)

    def wait_healthy(http: httpx.Client, proc) -> None:
        for _ in range(400):  # bounded: 400 × 50 ms
            assert proc.poll() is None, (tmp_path / "portal-fd.log").read_text(errors="replace")[-2000:]
            try:
                if http.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("the portal did not become healthy")

    def status(http: httpx.Client, code: str) -> int:
        return http.get(f"/public/dossiers/{code}", params={"personal_id": person.personal_id}).json()["status"]

    def pay(http: httpx.Client, key: str) -> str:
        return _pay_fees_due(http, person, key)[0]

    def paid_within_bound(http: httpx.Client, code: str) -> bool:
        for _ in range(200):  # bounded: 200 × 50 ms after a 0.1-s callback delay
            if status(http, code) == 4:
                return True
            time.sleep(0.05)
        return False

    proc = _serve_on_inherited_socket(tmp_path, port, population.url, tls_dir, delay_s=0.1)
    try:
        with client() as http:
            wait_healthy(http, proc)
            assert paid_within_bound(http, pay(http, "tls-fd-1")), "the callback never reached the portal over TLS"
            pending = pay(http, "tls-fd-2")
        # A crash with a payment pending (its callback not yet due), then a restart on a new
        # inherited socket: the callback is re-scheduled to that socket.
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = _serve_on_inherited_socket(tmp_path, port, population.url, tls_dir, delay_s=0.1)
        with client() as http:
            wait_healthy(http, proc)
            assert paid_within_bound(http, pending), "the re-scheduled callback never reached the restarted portal"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_a_dossier_with_a_payment_in_flight_waits_for_it(tmp_path, population):
    """Withdrawn or refused while the intermediary holds the fee, a dossier would have the
    fee collected anyway when the callback lands: every move out of "fees due" waits."""
    portal = portal_process(tmp_path, population.url, payment_callback_delay_s=3600).start()
    person = citizen(63)
    try:
        with httpx.Client(base_url=portal.url, timeout=5) as client:
            code, token, officer, _ = _pay_fees_due(client, person, "in-flight-63")
            for who, to in ((token, 7), (officer, 9)):
                moved = client.post(f"/dossiers/{code}/transitions", json={"to": to}, headers=bearer(who))
                assert moved.status_code == 409 and moved.json()["error"]["code"] == "payment_pending", moved.text
            assert client.get(f"/dossiers/{code}", headers=bearer(token)).json()["status"] == 6
    finally:
        portal.stop()
