"""Integrity of signed documents (domain rule: Decree 30/2020 digital signatures on the axis)."""

from __future__ import annotations

from collections.abc import Callable

from drills.security.context import CheckContext, require_judged
from drills.security.documents import NOT_A_VERDICT_ON_THE_PACKAGE, DocumentKit
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness
from kernel.pki import make_untrusted_ca

__all__: list[str] = []

RULE = "Domain: signed edXML (Decree 30/2020, QCVN 102:2016) / API8:2023"
_WEAK = (PlantedWeakness("axis", "signature_not_verified"),)
_SENDER = "000.00.00.G22"


def _refused(ctx: CheckContext, out: Outcome, label: str, build: Callable[[DocumentKit, str], bytes]) -> None:
    """Send the forged package as ``_SENDER``; it must be refused 4xx and change nothing
    (no delivery of its message id to the recipient; axis ledger unchanged when not under load).
    A 401, 404, 405 or 429 is no refusal of the package: ERROR."""
    kit = DocumentKit.require(ctx)
    recipient = ctx.citizen_commune_agency()
    before = ctx.ledger("axis")
    package = build(kit, recipient)
    r = kit.post(_SENDER, package)
    # A 4xx that is no verdict on the package (throttled, the sender's own token refused,
    # no such route) would pass a forgery nobody looked at.
    require_judged(r, f"{label}: POST /documents", NOT_A_VERDICT_ON_THE_PACKAGE)
    after = ctx.ledger("axis")
    message_id = package.split(b"<DocumentId>", 1)[-1].split(b"</DocumentId>", 1)[0].decode("utf-8", "replace")
    delivered = kit.count_deliveries(recipient, message_id, key="message_id")
    out.expect(delivered == 0, f"{label}: the recipient received the forged document ({delivered}×)", None)
    ok = out.expect(400 <= r.status_code < 500, f"{label}: answered {r.status_code}, expected a 4xx refusal",
                    ctx.excerpt(r, label))
    if before is not None and after is not None:
        ok = out.expect(before == after, f"{label}: axis state changed {before} → {after}", None) and ok
    elif why := ctx.ledger_not_compared("axis"):
        out.note(why)
    if ok:
        is_json = r.headers.get("content-type", "").startswith("application/json")
        code = r.json().get("error", {}).get("code") if is_json else None
        out.note(f"{label}: refused {r.status_code}{' ' + code if code else ''}", ctx.excerpt(r, label))


@security_check(CheckSpec(
    id="integrity.tampered-package",
    title="A package altered after signing is refused",
    area=Area.INTEGRITY, owasp=RULE,
    sends="a validly signed package whose subject is changed after signing",
    passes_when="4xx refusal and the axis ledger unchanged; 401/404/405/429 (no verdict on the package) is ERROR",
    weaknesses=_WEAK,
))
def tampered_package(ctx: CheckContext, out: Outcome) -> None:
    """Any change after signing breaks the signature."""
    def build(kit: DocumentKit, recipient: str) -> bytes:
        signed = kit.package(kit.envelope(_SENDER, [recipient], "Original subject dientap"))
        return signed.replace(b"Original subject dientap", b"Forged subject dientapX", 1)

    _refused(ctx, out, "tampered subject", build)


@security_check(CheckSpec(
    id="integrity.untrusted-ca",
    title="A package signed by a certificate from another CA is refused",
    area=Area.INTEGRITY, owasp=RULE,
    sends="a package signed with a certificate for the right agency, issued by an impostor CA with the same name "
          "as the trusted one",
    passes_when="4xx refusal and the axis ledger unchanged; 401/404/405/429 (no verdict on the package) is ERROR",
    weaknesses=_WEAK,
))
def untrusted_ca(ctx: CheckContext, out: Outcome) -> None:
    """Trust is by key, not by CA name."""
    impostor = make_untrusted_ca()
    _refused(ctx, out, "impostor CA",
             lambda kit, rcpt: kit.package(kit.envelope(_SENDER, [rcpt], "Impostor CA"), impostor.issue(_SENDER)))


@security_check(CheckSpec(
    id="integrity.certificate-validity",
    title="Packages signed with expired or not-yet-valid certificates are refused",
    area=Area.INTEGRITY, owasp=RULE,
    sends="one package signed with a certificate that expired yesterday, one with a certificate valid from tomorrow "
          "(both issued by the trusted CA)",
    passes_when="both 4xx refusals and the axis ledger unchanged; 401/404/405/429 (no verdict on the package) is ERROR",
    weaknesses=_WEAK,
))
def certificate_validity(ctx: CheckContext, out: Outcome) -> None:
    """Certificates are checked against the clock."""
    def signed_with(days_from: int, days_to: int, subject: str) -> Callable[[DocumentKit, str], bytes]:
        def build(kit: DocumentKit, rcpt: str) -> bytes:
            start, end = kit.validity(days_from, days_to)
            credential = kit.ca.issue(_SENDER, not_before=start, not_after=end)
            return kit.package(kit.envelope(_SENDER, [rcpt], subject), credential)
        return build

    _refused(ctx, out, "expired certificate", signed_with(-30, -1, "Expired certificate"))
    _refused(ctx, out, "not-yet-valid certificate", signed_with(1, 30, "Future certificate"))


@security_check(CheckSpec(
    id="integrity.signer-not-sender",
    title="A package signed by another agency than its sender is refused",
    area=Area.INTEGRITY, owasp=RULE,
    sends="a package from agency X (X's token, From = X) signed with agency Y's valid certificate",
    passes_when="4xx refusal and the axis ledger unchanged; 401/404/405/429 (no verdict on the package) is ERROR",
    weaknesses=_WEAK,
))
def signer_not_sender(ctx: CheckContext, out: Outcome) -> None:
    """The signature binds the document to its sender."""
    _refused(ctx, out, "signed by another agency",
             lambda kit, rcpt: kit.package(kit.envelope(_SENDER, [rcpt], "Signed by someone else"),
                                           kit.credential("000.00.00.H26")))
