"""The axis on a full disk (its data directory on a small tmpfs): an honest, retryable 507 in
each face's form, reads still answered, writes again once space is freed, and nothing
acknowledged lost across a SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import vdxp_client as sdk
from axis_harness import ADMIN_TOKEN, XML, envelope, package, start_axis, stop_axis

from tests.disk import assert_storage_refusal, fill, small_disk

pytestmark = pytest.mark.e2e

SENDER = "000.00.00.H26"
RECIPIENT = "H26.00004"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_full_disk_is_a_507_reads_go_on_and_nothing_acknowledged_is_lost(tmp_path: Path):
    with small_disk(tmp_path / "data", 4096) as data:
        server = start_axis(data)
        try:
            acked: list[str] = []
            with server.client() as c:
                hs, hr = server.token(c, SENDER), server.token(c, RECIPIENT)

                def send_native():
                    return c.post("/documents", content=package(server.ca, envelope(SENDER, [RECIPIENT])),
                                  headers={**hs, **XML})

                first = send_native()
                assert first.status_code == 201, first.text
                acked.append(first.json()["document_id"])

                filler = fill(data)
                for _ in range(3):  # each write is refused alike; the writer is not wedged by it
                    full = send_native()
                    assert_storage_refusal(full)
                    assert full.json()["error"]["code"] == "insufficient_storage"
                via_sdk = sdk.send(c, SENDER, package(server.ca, envelope(SENDER, [RECIPIENT])))
                assert_storage_refusal(via_sdk)
                body = via_sdk.json()
                assert body["status"] == "FAIL" and body["ErrorCode"] == "insufficient_storage", body
                # The inbox pull records a lease (a write): refused alike, never a 500.
                assert_storage_refusal(c.get("/inbox", headers=hr))
                read = c.get(f"/documents/{acked[0]}", headers=hs)
                assert read.status_code == 200, read.text
                assert c.get("/admin/ledger", headers=ADMIN).status_code == 200

                filler.unlink()
                again = send_native()
                assert again.status_code == 201, again.text
                acked.append(again.json()["document_id"])
                again_sdk = sdk.send(c, SENDER, package(server.ca, envelope(SENDER, [RECIPIENT])))
                assert again_sdk.status_code == 200 and again_sdk.json()["status"] == "OK", again_sdk.text
                acked.append(again_sdk.json()["DocId"])
                assert c.get("/inbox", headers=hr).status_code == 200
        finally:
            if server.process.poll() is None:
                os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait()

        restarted = start_axis(data)
        try:
            with restarted.client() as c:
                documents = c.get("/admin/ledger", headers=ADMIN).json()["ids"]["documents"]
            assert set(acked) <= set(documents), set(acked) - set(documents)
        finally:
            stop_axis(restarted.process)
