"""Signed edXML packages for the axis checks: valid ones, and every way of forging one."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import httpx

from drills.security.context import THROTTLED, CheckContext, SetupFailed
from kernel.edxml import Attachment, DocumentEnvelope, build_package, make_document_id
from kernel.pki import AgencyCredential, DryRunCA

__all__ = ["DocumentKit", "NOT_A_VERDICT_ON_THE_PACKAGE"]

#: Answers to ``POST /documents`` with a valid token that are no verdict on the package:
#: throttled, the sender's own token refused, no such route. A check that took them for
#: a refusal would pass a forged package nobody looked at.
NOT_A_VERDICT_ON_THE_PACKAGE = THROTTLED | {401, 404, 405}


@dataclass
class DocumentKit:
    """Builds and sends packages as any agency, with the target's dry-run CA."""

    ctx: CheckContext
    ca: DryRunCA

    @classmethod
    def require(cls, ctx: CheckContext) -> DocumentKit:
        """The kit, or :class:`SetupFailed` when the run has no signing keys (``pki_dir``)."""
        if ctx.ca is None:
            raise SetupFailed("this check signs documents: give the target's pki_dir (dry-run CA)")
        return cls(ctx, ctx.ca)

    def envelope(self, sender: str, recipients: list[str], subject: str) -> DocumentEnvelope:
        """A new, valid document from ``sender`` (unique message id)."""
        today = self.ctx.today()
        number = str(secrets.randbelow(10**9))
        notation = "SEC-DIENTAP"
        return DocumentEnvelope(
            message_id=make_document_id(sender, today, number, notation), sender_code=sender,
            sender_name=f"Agency {sender}", recipients=recipients, code_number=number, code_notation=notation,
            promulgation_place="Hà Nội", promulgation_date=today, document_type="Công văn", subject=subject,
            attachments=[Attachment("noi-dung.txt", "text/plain", subject.encode("utf-8"))],
        )

    def credential(self, agency: str) -> AgencyCredential:
        """``agency``'s valid signing credential under the target's CA."""
        return self.ca.issue(agency)

    def package(self, envelope: DocumentEnvelope, credential: AgencyCredential | None = None) -> bytes:
        """``envelope`` signed by ``credential`` (default: the sender's own)."""
        return build_package(envelope, credential or self.credential(envelope.sender_code))

    def post(self, sender: str, package: bytes) -> httpx.Response:
        """``POST /documents`` as ``sender``."""
        headers = {**self.ctx.bearer(self.ctx.axis_token(sender)), "Content-Type": "application/xml"}
        return self.ctx.send("axis", "POST", "/documents", content=package, headers=headers)

    def send_ok(self, sender: str, recipients: list[str], subject: str) -> str:
        """Send a valid document; its ``document_id`` (SetupFailed if refused)."""
        r = self.post(sender, self.package(self.envelope(sender, recipients, subject)))
        if r.status_code != 201:
            raise SetupFailed(f"control: a valid signed document was refused ({r.status_code})", r)
        return r.json()["document_id"]

    def find_delivery(self, agency: str, document_id: str, *, ack: bool = False) -> int | None:
        """The delivery id of ``document_id`` in ``agency``'s inbox (pulls up to 5 pages)."""
        headers = self.ctx.bearer(self.ctx.axis_token(agency))
        cursor = 0
        found: int | None = None
        for _ in range(5):
            r = self.ctx.send("axis", "GET", "/inbox", headers=headers, params={"cursor": cursor, "limit": 100})
            if r.status_code != 200:
                return None
            page = r.json()
            for entry in page.get("deliveries", []):
                if entry.get("document_id") == document_id and entry.get("kind", "document") == "document":
                    found = entry["delivery_id"]
                    if ack:
                        self.ctx.send("axis", "POST", f"/inbox/{found}/ack", headers=headers)
            if found is not None or not page.get("deliveries") or page.get("next_cursor") is None:
                return found
            cursor = page["next_cursor"]
        return found

    def count_deliveries(self, agency: str, document_id: str, *, key: str = "document_id") -> int:
        """How many deliveries of ``document_id`` (or of a ``message_id`` with ``key="message_id"``)
        ``agency`` receives; each is acknowledged. An inbox that answers anything but 200 raises
        :class:`SetupFailed`: none found in an unread inbox would be no finding."""
        headers = self.ctx.bearer(self.ctx.axis_token(agency))
        seen = 0
        cursor = 0
        for _ in range(5):
            r = self.ctx.send("axis", "GET", "/inbox", headers=headers, params={"cursor": cursor, "limit": 100})
            if r.status_code != 200:
                raise SetupFailed(f"{agency}'s inbox answered {r.status_code}: its deliveries cannot be counted, so "
                                  "whether the document reached it cannot be judged", r)
            page = r.json()
            for entry in page.get("deliveries", []):
                if entry.get(key) == document_id and entry.get("kind", "document") == "document":
                    seen += 1
                    self.ctx.send("axis", "POST", f"/inbox/{entry['delivery_id']}/ack", headers=headers)
            if not page.get("deliveries") or page.get("next_cursor") is None:
                break
            cursor = page["next_cursor"]
        return seen

    @staticmethod
    def validity(days_from: int, days_to: int) -> tuple[dt.datetime, dt.datetime]:
        """A certificate validity window relative to now (days)."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return now + dt.timedelta(days=days_from), now + dt.timedelta(days=days_to)
