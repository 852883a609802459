"""The document axis's agencies' SDK shape (``vdxp``): what the mock face and the adapter share.

Sources (facts only, see ``mocks/axis/README.md`` for the full list):

* ``PVN-Organization/API-Gateway-iOffice`` — the VNPT SDK ``SDKVXP-2.0.1.jar`` (its class
  and string tables: the operations ``/sendEdoc``, ``/getReceivedEdocList``, ``/getEdoc``,
  ``/getSentEdocList``, ``/updateStatus``, ``/getAgenciesList``; the answer keys
  ``status``, ``ErrorCode``, ``ErrorDesc``, ``DocId``, ``data``; the knobstick keys
  ``docId, serviceType, messageType, created_time, updated_time, from, to, status,
  status_desc``; the sent-status keys ``senderDocId, receiverDocId, fromCode, toCode,
  title, notation, sentTime, receivedTime, sendStatus, sendStatusDesc, receiveStatus,
  receiveStatusDesc``; the agency keys ``id, pid, code, name, mail, oldCode, code102``;
  the header prefix ``XroadVnpt-`` and the timestamp pattern ``ddMMyyyy'T'HHmmss+SSSS``),
  its example ``ServiceTest.java`` (the JSON header fields ``from, servicetype,
  messagetype, docId, status``; ``done / fail / processing``) and
  ``SignatureGenerator.java`` (HMAC-SHA256 over systemId + timestamp + content type +
  body, hex).

Two signing schemes are accepted. The SDK jar's own (:data:`SIGN_HEADER`), observed by
running the jar against a capture server on loopback (the header names, the signed JSON
text, ``+SSSS`` = milliseconds); and the one ``SignatureGenerator.java`` computes
(:func:`signature`, over the body too) — reconstructed from that one caller, not
confirmed. What is **ours** (no official document confirms it): carrying the second
scheme in the SDK's ``systemid``/``timestamp``/``hash-header`` headers; the timestamp's
zone (Asia/Ho_Chi_Minh); the bounded clock skew and the replay refusal; the mapping of the SDK's status words to
QCVN 102 receipt codes (:data:`STATUS_WORDS`) and of ``messagetype`` to the package's
``BussinessDocType`` (:data:`MESSAGE_TYPES`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "DELIVERY_WORDS",
    "HASH_FILE_HEADER",
    "HASH_HEADER",
    "HEADER_PREFIX",
    "MAX_CLOCK_SKEW_S",
    "MESSAGE_TYPES",
    "RECEIPT_CODES",
    "SERVICE_TYPES",
    "SIGN_HEADER",
    "SIGN_KEYS_HEADER",
    "STATUS_WORDS",
    "SYSTEM_ID_HEADER",
    "TIMESTAMP_HEADER",
    "VERSION_HEADER",
    "VN_TZ",
    "format_timestamp",
    "parse_timestamp",
    "signature",
]

#: Every header of the shape starts with this (the SDK's own prefix).
HEADER_PREFIX: Final = "XroadVnpt-"
#: The connected system's id (the SDK's header; ours: the id is the agency code).
SYSTEM_ID_HEADER: Final = "XroadVnpt-systemid"
#: When the request was signed, ``ddMMyyyy'T'HHmmss+SSSS`` (the SDK's header and pattern;
#: ours: read in Asia/Ho_Chi_Minh — the jar writes its machine's local time).
TIMESTAMP_HEADER: Final = "XroadVnpt-timestamp"
#: The signature: hex HMAC-SHA256, 64 digits (the SDK's header; it writes lowercase).
HASH_HEADER: Final = "XroadVnpt-hash-header"

#: The SDK jar's own signing (observed by running ``SDKVXP-2.0.1`` against a capture server
#: on loopback): every parameter travels as an ``XroadVnpt-<name>`` header; the signed ones
#: are listed (``;``-separated names) in :data:`SIGN_KEYS_HEADER` and copied, as one JSON
#: object ``{"XroadVnpt-<name>": value, ...}``, into :data:`SIGN_HEADER`;
#: :data:`HASH_HEADER` is the hex HMAC-SHA256 of that JSON text; ``sendEdoc`` adds the
#: file's SHA-256 (hex) as :data:`HASH_FILE_HEADER`.
SIGN_HEADER: Final = "XroadVnpt-sign-header"
SIGN_KEYS_HEADER: Final = "XroadVnpt-sign-header-key"
HASH_FILE_HEADER: Final = "XroadVnpt-hash-file"
VERSION_HEADER: Final = "XroadVnpt-version"

#: A timestamp further than this from the server's clock is refused (ours).
MAX_CLOCK_SKEW_S: Final = 120.0

VN_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")

SERVICE_TYPES: Final = ("eDoc", "status")
#: ``messagetype`` of a document → the package's ``BussinessDocType`` (QCVN 102: 0 new,
#: 1 revoke, 2 update, 3 replace). Ours: the SDK names the words, not the pairing.
MESSAGE_TYPES: Final[dict[str, int]] = {"edoc": 0, "revocation": 1, "update": 2, "replacement": 3}

#: The QCVN 102 receipt codes the axis enforces (``mocks.axis.receipts``).
RECEIPT_CODES: Final = ("01", "02", "03", "04", "05", "06", "13", "15", "16")
#: Words of the SDK's README that name a receipt → the QCVN 102 code they send (ours).
STATUS_WORDS: Final[dict[str, str]] = {"inbox": "01", "acceptance": "03", "rejection": "02"}
#: Words of the SDK's example that speak about the *delivery*, not the document (ours):
#: ``done`` acknowledges it (never handed out again); ``fail`` and ``processing`` leave
#: it pending, so it comes back after its lease (at-least-once).
DELIVERY_WORDS: Final = ("done", "fail", "processing")

_TS_LENGTH = len("ddMMyyyyTHHmmss+SSSS")


def format_timestamp(when: float) -> str:
    """``when`` (epoch seconds) as the SDK writes it: ``ddMMyyyy'T'HHmmss+SSSS``, local time
    of Asia/Ho_Chi_Minh, the last four digits the milliseconds (zero-padded, as Java's
    ``SimpleDateFormat`` pads ``SSSS``)."""
    local = dt.datetime.fromtimestamp(when, VN_TZ)
    return local.strftime("%d%m%YT%H%M%S") + f"+{local.microsecond // 1000:04d}"


def parse_timestamp(value: str) -> float:
    """Epoch seconds of a timestamp :func:`format_timestamp` writes (``ValueError`` otherwise)."""
    if len(value) != _TS_LENGTH or value[8] != "T" or value[15] != "+" or not value.isascii():
        raise ValueError("expected ddMMyyyyTHHmmss+SSSS")
    digits = value[:8] + value[9:15]
    millis = value[16:]
    if not (digits.isdigit() and millis.isdigit()) or int(millis) > 999:
        raise ValueError("expected ddMMyyyyTHHmmss+SSSS (SSSS: milliseconds 0000-0999)")
    # Slicing, not strptime: this runs on every signed request (≈ 3 µs against ≈ 10 µs).
    local = dt.datetime(int(digits[4:8]), int(digits[2:4]), int(digits[:2]), int(digits[8:10]), int(digits[10:12]),
                        int(digits[12:14]), tzinfo=VN_TZ)
    return local.timestamp() + int(millis) / 1000


def signature(secret: str, system_id: str, timestamp: str, content_type: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256, keyed by ``secret``, over
    ``system_id + timestamp + content_type + body`` (UTF-8), as ``SignatureGenerator.java`` signs."""
    mac = hmac.new(secret.encode(), (system_id + timestamp + content_type).encode(), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()
