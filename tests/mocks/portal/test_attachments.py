"""Attachment URLs (OWASP API7): only the document store's, fetched within limits, never redirected.

The allowlist is decided from the URL's text; the fetches run against a real HTTP server
on loopback (a served directory standing in for the document store, plus the routes a
hostile store could answer with).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest

from mocks.core.errors import ApiError
from mocks.portal.attachments import AttachmentFetcher
from tests.support import loopback_http_server

PAPER = b"%PDF-1.4 giay khai sinh" * 10


class _Store(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []  # every path requested, across the module

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        if self.path == "/store/paper.pdf":
            self._answer(200, PAPER)
        elif self.path == "/store/big.pdf":
            self._answer(200, b"A" * 5000)
        elif self.path == "/store/slow.pdf":
            time.sleep(5.0)  # 2.5 × the fetcher's limit: a stall of the machine cannot make it look fast
            self._answer(200, PAPER)
        elif self.path == "/store/moved.pdf":
            self.send_response(302)
            self.send_header("Location", "/secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(404 if self.path.startswith("/store/") else 200, b"secret")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def store() -> Iterator[str]:
    with loopback_http_server(_Store) as url:
        yield url


def _fetcher(store: str, **kw: object) -> AttachmentFetcher:
    # 2 s: far above a loopback fetch even on a busy machine (a successful fetch must not time out).
    return AttachmentFetcher((f"{store}/store/",), max_bytes=1024, timeout_s=2.0, **kw)  # type: ignore[arg-type]


def _fetch(fetcher: AttachmentFetcher, url: str):
    async def go():
        try:
            return await fetcher.fetch("paper.pdf", url, "attachments[0].url")
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/store/paper.pdf",
    "http://127.0.0.1:{port}/store/sub/dir/scan.pdf",
])  # fmt: skip
def test_urls_under_the_store_prefix_are_allowed(store, url):
    port = store.rsplit(":", 1)[1]
    assert _fetcher(store).allowed(url.format(port=port))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/admin/ledger",                 # same host, outside the prefix
    "http://127.0.0.1:{port}/store/../admin/ledger",         # dot segments
    "http://127.0.0.1:{port}/store/%2e%2e/admin/ledger",     # encoded dot segments
    "http://127.0.0.1:{port}/store/..%2fadmin",              # encoded separator
    "http://localhost:{port}/store/paper.pdf",               # another name for the host
    "http://2130706433:{port}/store/paper.pdf",              # loopback as a number
    "http://127.0.0.1:{port}@169.254.169.254/store/x",       # user-info disguise
    "https://127.0.0.1:{port}/store/paper.pdf",              # another scheme
    "http://127.0.0.1:1/store/paper.pdf",                    # another port
    "http://127.0.0.1:99999/store/paper.pdf",                # not a port
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "gopher://127.0.0.1:{port}/store/x",
    "http://127.0.0.1:{port}/store/a b.pdf",
    "http://127.0.0.1:{port}/store/a\x01b.pdf",               # a control character (httpx: InvalidURL)
    "http://127.0.0.1:{port}/store/a\x7fb.pdf",               # DEL
])  # fmt: skip
def test_everything_else_is_refused_naming_the_field_before_any_request(store, url):
    fetcher = _fetcher(store)
    before = len(_Store.hits)
    with pytest.raises(ApiError) as refused:
        fetcher.check(url.format(port=store.rsplit(":", 1)[1]), "attachments[0].url")
    assert (refused.value.status, refused.value.code, refused.value.field) == (
        422, "attachment_url_refused", "attachments[0].url")
    assert len(_Store.hits) == before


def test_a_store_file_is_fetched_and_only_its_digest_kept(store):
    got = _fetch(_fetcher(store), f"{store}/store/paper.pdf")
    assert (got.size, got.sha256) == (len(PAPER), hashlib.sha256(PAPER).hexdigest())
    assert got.summary() == f"paper.pdf; {len(PAPER)} bytes; sha256:{hashlib.sha256(PAPER).hexdigest()}"


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/store/moved.pdf", 422, "attachment_unavailable"),     # a redirect is not followed
    ("/store/missing.pdf", 422, "attachment_unavailable"),
    ("/store/big.pdf", 422, "attachment_too_large"),          # 5,000 bytes over a 1,024-byte limit
    ("/store/slow.pdf", 503, "attachment_store_unavailable"),  # 5 s answer, 2 s limit
])  # fmt: skip
def test_the_store_s_refusals_and_limits(store, path, status, code):
    before = len(_Store.hits)
    with pytest.raises(ApiError) as refused:
        _fetch(_fetcher(store), store + path)
    assert (refused.value.status, refused.value.code, refused.value.field) == (status, code, "attachments[0].url")
    assert _Store.hits[before:] == [path]  # the redirect's target was never requested


def test_the_planted_fetcher_goes_wherever_it_is_sent(store, tmp_path):
    fetcher = _fetcher(store, fetch_any=True)
    fetcher.check("http://169.254.169.254/latest/meta-data/", "attachments[0].url")  # no refusal
    before = len(_Store.hits)
    got = _fetch(fetcher, f"{store}/store/moved.pdf")
    assert _Store.hits[before:] == ["/store/moved.pdf", "/secret"] and got.size == len(b"secret")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0")
    assert _fetch(_fetcher(store, fetch_any=True), secret.as_uri()).size == 10
