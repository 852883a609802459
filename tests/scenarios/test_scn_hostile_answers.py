"""A target that answers badly (``hostile_probe.py``, real HTTP on loopback): every bad answer
is a failure in Locust's statistics with its reason, no adapter raises, and no answer holds
the generator's memory or an actor for longer than the request timeout allows."""

from __future__ import annotations

import json
import subprocess  # nosec B404 - the probe is our own script
import sys
from typing import Any

import pytest
from scn_support import HERE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(HERE / "hostile_probe.py")], capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["huge-length", "huge-chunked"])
def test_an_answer_larger_than_the_cap_is_cut_off_and_failed(probe, kind):
    status, ok, kept, _, _ = probe[kind]
    assert (status, ok) == (200, False) and kept <= probe["cap"]  # 16 × the cap was sent
    assert probe["reported"][kind] == [f"answer larger than {probe['cap']} bytes"]


def test_the_pool_still_works_after_an_answer_it_cut_off(probe):
    assert probe["after_huge"] == [200, True, {"fine": True}]  # the rest of the huge body was not read as an answer


def test_an_answer_dripped_slower_than_the_timeout_is_a_timeout(probe):
    # Each byte comes well within the socket timeout, the whole answer 8 × later than it.
    status, ok, _, _, _ = probe["drip"]
    assert (status, ok) == (0, False)
    assert probe["reported"]["drip"] == ["no response (TimeoutError)"]  # the same row as a socket timeout's


def test_a_redirect_to_a_foreign_host_is_not_followed(probe):
    assert probe["redirect"][:2] == [302, False] and probe["reported"]["redirect"] == ["HTTP 302"]


def test_a_reset_is_a_transport_failure(probe):
    assert probe["reset"][:2] == [0, False]
    assert probe["reported"]["reset"] == ["no response (HTTPConnectionClosed)"]


def test_retry_after_as_an_http_date_holds_the_client(probe):
    _, _, _, retry_after, throttled = probe["retry-date"]
    assert throttled and 100 <= retry_after <= 120  # the date is 120 s ahead, to the second
    assert probe["reported"]["retry-date"][0].startswith("throttled by target (429")


def test_a_negative_retry_after_is_no_retry_after(probe):
    _, _, _, retry_after, throttled = probe["retry-negative"]
    assert (retry_after, throttled) == (None, False) and probe["reported"]["retry-negative"] == ["HTTP 429"]


@pytest.mark.parametrize("kind", ["officer-html", "officer-null"])
def test_a_sign_in_answer_without_a_token_is_a_failed_sign_in(probe, kind):
    assert probe[kind] is None  # no token, no KeyError: the officer carries on without one
    assert probe["reported"][kind] == ["sign-in answer carries no access_token"]


def test_a_citizen_sign_in_without_a_token_is_not_ok(probe):
    assert probe["citizen-null"][:2] == [200, False]
    assert probe["reported"]["citizen-null"] == ["sign-in answer carries no access_token"]


@pytest.mark.parametrize(("kind", "reason"), [
    ("soap-html", "HTTP 200 malformed_answer"),
    ("soap-fault200", "HTTP 200 soap:Server"),
    ("soap-fault500", "HTTP 500 soap:Server"),
])
def test_a_soap_answer_that_is_no_result_is_a_failure_naming_the_fault(probe, kind, reason):
    assert probe[kind][1] is False
    assert probe["reported"][kind] == [reason]


def test_an_sdk_ok_without_its_list_is_a_failure_not_a_crash(probe):
    assert probe["vdxp-inbox"][:2] == [200, False]
    assert probe["reported"]["vdxp-inbox"] == ["malformed answer: data is not a list"]


def test_an_sdk_ok_without_a_document_id_is_a_failure(probe):
    assert probe["vdxp-send"][:2] == [200, False]
    assert probe["reported"]["vdxp-send"] == ["malformed answer: no DocId"]


def test_a_catalogue_result_that_is_no_list_is_a_failure_not_a_crash(probe):
    assert probe["dvcqg-catalogue"][:2] == [200, False]
    assert probe["reported"]["dvcqg-catalogue"] == ["malformed answer: result is not a list"]


# Well-formed JSON without what the personas read: before, these were successes in Locust's
# statistics and the persona then raised (KeyError, TypeError, AttributeError) on the data.
@pytest.mark.parametrize(("kind", "status", "reason"), [
    ("submit-no-code", 201, "malformed answer: no dossier code"),  # citizen: dossier.data["code"]
    ("worklist-odd", 200, "malformed answer: worklist item is not a dossier with a code"),  # officer: item["code"]
    ("dossier-fee-text", 200, "malformed answer: fee_vnd is not a number"),  # officer: fee_vnd > 0
    ("dossier-applicant-text", 200, "malformed answer: applicant is not an object"),  # officer: applicant.get
    ("inbox-no-document", 200, "malformed answer: delivery without a document_id"),  # work_inbox
    ("inbox-no-delivery", 200, "malformed answer: delivery without a delivery_id"),  # work_inbox
    ("send-null-id", 201, "malformed answer: no document_id"),  # agency: a None document id followed up
    ("receipts-odd", 200, "malformed answer: receipt from_code is not a code"),  # agency: a set of from_codes
    ("catalogue-odd", 200, "malformed answer: procedures is not a list of procedures"),  # citizen: procedure["code"]
    ("catalogue-html", 200, "malformed answer: procedures is not a list of procedures"),  # was cached as unpublished
    ("c06-lookup-bad-date", 200, "malformed answer: date_of_birth is not a C06 date (yyyyMMdd)"),
    ("dvcqg-dossier-fee-list", 200, "malformed answer: DanhSachLePhi Gia is not a number"),
    ("dvcqg-submit-no-receipt", 200, "malformed answer: no SoBienNhan"),  # citizen: a dossier code of None
])
def test_an_answer_without_what_the_personas_read_is_a_failure_with_its_reason(probe, kind, status, reason):
    assert probe[kind][:3] == [status, False, "malformed_answer"]  # the persona sees a failure, not the data
    assert probe["reported"][kind] == [reason]  # and so does Locust, once, under the reason
