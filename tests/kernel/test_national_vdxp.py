"""The SDK shape's shared pieces: timestamps, the signed string, the mapping tables."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from kernel.national.vdxp import (
    DELIVERY_WORDS,
    MESSAGE_TYPES,
    RECEIPT_CODES,
    STATUS_WORDS,
    VN_TZ,
    format_timestamp,
    parse_timestamp,
    signature,
)


def test_timestamps_are_the_sdk_pattern_in_vietnam_time_and_read_back_to_the_millisecond():
    when = dt.datetime(2025, 7, 1, 1, 2, 3, 456_000, tzinfo=dt.UTC).timestamp()
    assert format_timestamp(when) == "01072025T080203+0456"  # 08:02 in Hà Nội is 01:02 UTC
    assert parse_timestamp("01072025T080203+0456") == pytest.approx(when, abs=1e-6)
    assert dt.datetime.fromtimestamp(parse_timestamp("31122025T235959+0999"), VN_TZ).year == 2025


@pytest.mark.parametrize("bad", ["", "2025-07-01T08:02:03", "01072025T080203+1000", "32072025T080203+0000",
                                 "01072025 080203+0000", "0107202５T080203+0000", "01072025T250203+0000"])
def test_a_malformed_timestamp_is_a_value_error(bad):
    with pytest.raises(ValueError):
        parse_timestamp(bad)


def test_the_signature_is_hmac_sha256_hex_over_system_timestamp_content_type_and_body():
    body = "{\"docId\":\"Văn bản\"}".encode()
    expected = hmac.new(b"s3cret", b"vxp.saas.03" + b"01072025T080203+0456" + b"application/json" + body,
                        hashlib.sha256).hexdigest()
    assert signature("s3cret", "vxp.saas.03", "01072025T080203+0456", "application/json", body) == expected
    assert signature("s3cret", "vxp.saas.03", "01072025T080203+0456", "application/json", body + b" ") != expected


def test_every_status_word_names_a_code_the_axis_enforces_and_words_do_not_overlap():
    assert set(STATUS_WORDS.values()) <= set(RECEIPT_CODES)
    assert not set(STATUS_WORDS) & set(DELIVERY_WORDS) and not set(RECEIPT_CODES) & set(DELIVERY_WORDS)
    assert sorted(MESSAGE_TYPES.values()) == [0, 1, 2, 3]  # QCVN 102 BussinessDocType: new, revoke, update, replace
