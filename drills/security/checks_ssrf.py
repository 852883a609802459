"""Server-side request forgery: dossier attachment URLs (OWASP API7:2023).

A dossier names its attachments by URL and the portal fetches them. The check offers
URLs that point inward — a canary listener it runs itself on loopback, the link-local
metadata address, the services' admin APIs, ``file:`` — directly and through a redirector
(the same canary), and judges by observation: the canary must never be contacted and
nothing may be stored, whatever the answers say.

The canary is :mod:`http.server` on ``127.0.0.1`` (port chosen by the OS), serving until
the check ends; against a remote target it cannot be reached anyway, and the check then
rests on the answers and the ledgers.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from drills.security.context import THROTTLED, CheckContext, require_judged
from drills.security.registry import security_check
from drills.security.spec import Area, CheckSpec, Outcome, PlantedWeakness
from reports.security_scorecard import EvidenceExcerpt

__all__ = ["CanaryListener", "inward_urls"]

API7 = "API7:2023 Server Side Request Forgery"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
_FIELD = "attachments[0].url"
#: A submission throttled, or its citizen's own token refused: its URL was never judged.
_NOT_JUDGED = THROTTLED | {401}


class _CanaryHandler(BaseHTTPRequestHandler):
    server: _CanaryServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.hits.append(self.path.split("?", 1)[0])
        query = parse_qs(urlsplit(self.path).query)
        if "to" in query:  # the redirector: send the fetcher wherever ``to`` says
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"dientap-ssrf-canary"
        self.send_response(200)
        self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        pass  # the hits list is the record


class _CanaryServer(ThreadingHTTPServer):
    daemon_threads = True
    hits: list[str]


class CanaryListener:
    """An HTTP listener on loopback that records every request path (and redirects on ``?to=``)."""

    def __init__(self) -> None:
        self._server = _CanaryServer(("127.0.0.1", 0), _CanaryHandler)
        self._server.hits = []
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="security-ssrf-canary", daemon=True)

    @property
    def hits(self) -> list[str]:
        """Paths requested so far, in order."""
        return list(self._server.hits)

    def __enter__(self) -> CanaryListener:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def inward_urls(canary: CanaryListener, urls: dict[str, str]) -> list[tuple[str, str]]:
    """(label, URL) of every inward target: direct, disguised, and through the redirector."""
    c, port = canary.url, canary.port
    portal_netloc = urlsplit(urls["portal"]).netloc

    def redirect(to: str, tag: str) -> str:
        return f"{c}/redirect-{tag}?to={quote(to, safe='')}"

    return [
        ("loopback listener", f"{c}/loopback"),
        ("loopback by name", f"http://localhost:{port}/localhost"),
        ("loopback as a decimal address", f"http://2130706433:{port}/decimal"),
        ("user-info disguise", f"http://{portal_netloc}@127.0.0.1:{port}/userinfo"),
        ("link-local metadata", METADATA),
        ("portal admin API", f"{urls['portal']}/admin/ledger"),
        ("population admin API", f"{urls['population']}/admin/audit"),
        ("file: URL", "file:///etc/passwd"),
        ("redirect to loopback", redirect(f"{c}/redirected", "loopback")),
        ("redirect to metadata", redirect(METADATA, "metadata")),
        ("redirect to the admin API", redirect(f"{urls['portal']}/admin/ledger", "admin")),
        ("redirect to file:", redirect("file:///etc/passwd", "file")),
    ]


def _error_field(r: httpx.Response) -> str | None:
    """The ``error.field`` of a JSON error answer (``None`` for anything else)."""
    try:
        error = r.json().get("error") if r.headers.get("content-type", "").startswith("application/json") else None
    except ValueError:
        return None
    return error.get("field") if isinstance(error, dict) else None


@security_check(CheckSpec(
    id="ssrf.attachment-urls",
    title="Dossier attachments are fetched only from the document store, never from inward addresses",
    area=Area.SSRF, owasp=API7,
    sends="12 dossier submissions, each with one attachment URL: a canary listener the check runs on loopback "
          "(as 127.0.0.1, localhost, 2130706433, behind user-info), 169.254.169.254 metadata, the portal's and the "
          "population's admin APIs, file:///etc/passwd, and redirects (from the canary) to loopback, metadata, the "
          "admin API and file:",
    passes_when="every submission answers 4xx naming attachments[0].url, the canary is never contacted, no answer "
                "shows /etc/passwd, and the portal's dossier count and the citizen's dossiers are unchanged; a "
                "submission throttled (429) or its token refused (401) (the URL never judged), or a commune worklist "
                "that answers anything but 200 (nothing counted), is ERROR",
    weaknesses=(PlantedWeakness("portal", "ssrf_fetch_any"),),
))
def attachment_urls(ctx: CheckContext, out: Outcome) -> None:
    """Only the document store is fetched from; inward URLs are refused before any request."""
    citizen, token = ctx.signed_in_citizen()
    before = ctx.ledger("portal")
    own_before = ctx.own_dossiers(citizen)
    refusals: list[tuple[bool, str, EvidenceExcerpt]] = []
    unjudged: list[tuple[str, httpx.Response]] = []
    with CanaryListener() as canary:
        for label, url in inward_urls(canary, ctx.target.urls):
            r = ctx.submit(token, ctx.dossier_body(citizen, attachments=[{"name": "giay-to.pdf", "url": url}]))
            field = _error_field(r)
            ok = 400 <= r.status_code < 500 and field == _FIELD and "root:x:0:0" not in r.text
            if 200 <= r.status_code < 300:
                why = f"{label}: accepted ({r.status_code}): the dossier was stored with the attachment fetched"
            elif 400 <= r.status_code < 500 and field != _FIELD:
                why = f"{label}: refused {r.status_code} but naming {field!r}, not {_FIELD}"
            else:
                why = f"{label}: answered {r.status_code}"
            refusals.append((ok, why, ctx.excerpt(r, label)))
            if r.status_code in _NOT_JUDGED:
                unjudged.append((label, r))
        time.sleep(0.3)  # a fetch made after the answer (queued work) still lands before we look
        hits = canary.hits
    # What the canary saw is the observation that matters most: report it first.
    out.expect(not hits, f"the portal contacted the loopback canary {len(hits)}× ({', '.join(hits[:4])})", None)
    for label, r in unjudged:
        # Throttled or its token refused, the submission's URL was never judged (after the
        # canary's observation, so a contacted canary stays a FAIL).
        require_judged(r, f"{label}: the submission", _NOT_JUDGED)
    for ok, why, excerpt in refusals:
        out.expect(ok, why, excerpt)
    after = ctx.ledger("portal")
    if before is not None and after is not None:
        out.expect(after.get("dossiers") == before.get("dossiers"),
                   f"dossiers stored: {before.get('dossiers')} → {after.get('dossiers')}", None)
    elif unread := ctx.ledger_not_compared("portal"):
        out.note(unread)
    own_after = ctx.own_dossiers(citizen)
    out.expect(own_before == own_after, f"the citizen's dossiers went from {own_before} to {own_after}", None)
    if out.passed:
        out.note(f"{len(refusals)} inward attachment URLs refused 4xx naming {_FIELD}; canary never contacted; "
                 "nothing stored")
