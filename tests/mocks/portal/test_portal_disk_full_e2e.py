"""The portal on a full disk (its data directory on a small tmpfs): an honest, retryable 507
on its own API and in the adapter face's form, reads still answered, submissions again once
space is freed, and no acknowledged dossier lost across a SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from kernel.national.dvcqg import ErrorCode
from mocks.portal.catalogue import catalogue_of
from tests.disk import assert_storage_refusal, fill, small_disk

from .conftest import ServiceProcess, bearer, citizen, dossier_body, ledger, login_citizen, portal_process
from .test_dvcqg_face import session_of, sync

pytestmark = pytest.mark.e2e


def test_a_full_disk_is_a_507_reads_go_on_and_no_acknowledged_dossier_is_lost(tmp_path: Path,
                                                                              population: ServiceProcess):
    person = citizen(23)
    free = next(p.code for p in catalogue_of(person.province_code) if p.fee_vnd == 0)
    with small_disk(tmp_path / "portal", 8192):
        portal = portal_process(tmp_path, population.url).start()
        try:
            acked: list[str] = []
            with httpx.Client(base_url=portal.url, timeout=10) as client:
                token = login_citizen(client, person)
                session = session_of(client, person.personal_id)

                def submit(key: str) -> httpx.Response:
                    return client.post("/dossiers", json=dossier_body(person, free),
                                       headers={**bearer(token), "Idempotency-Key": key})

                first = submit("disk-full-1")
                assert first.status_code == 201, first.text
                acked.append(first.json()["code"])

                filler = fill(portal.data_dir)
                for n in range(3):  # each refused alike: the writer is not wedged by a failed commit
                    assert_storage_refusal(submit(f"disk-full-refused-{n}"))
                synced = sync(client, session, person, "H-DISK-FULL-1")
                assert_storage_refusal(synced)
                body = synced.json()
                assert body["error_code"] == int(ErrorCode.UNAVAILABLE) and body["reason"] == "insufficient_storage"
                read = client.get(f"/dossiers/{acked[0]}", headers=bearer(token))
                assert read.status_code == 200, read.text
                assert acked[0] in ledger(client)["ids"]["dossiers"]

                filler.unlink()
                # The refused key was never stored: the same key now submits anew.
                again = submit("disk-full-refused-0")
                assert again.status_code == 201, again.text
                acked.append(again.json()["code"])
                synced = sync(client, session, person, "H-DISK-FULL-1")
                assert synced.status_code == 200 and synced.json()["error_code"] == 0, synced.text
                acked.append(synced.json()["result"][0]["SoBienNhan"])
        finally:
            if portal.proc is not None and portal.proc.poll() is None:
                os.kill(portal.proc.pid, signal.SIGKILL)
                portal.proc.wait()

        restarted = portal_process(tmp_path, population.url).start()
        try:
            with httpx.Client(base_url=restarted.url, timeout=10) as client:
                dossiers = ledger(client)["ids"]["dossiers"]
            assert set(acked) <= set(dossiers), set(acked) - set(dossiers)
        finally:
            restarted.stop()
