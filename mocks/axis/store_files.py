"""The document store (kho lưu trữ tài liệu): scanned papers that dossiers attach by URL.

``GET /store/{name}`` serves the files of ``<data_dir>/store/``, read-only. It is the one
place the portal's ``attachment_allowlist`` names in the embedded mocks (the portal fetches
a dossier's attachments from here and from nowhere else: ``mocks/portal/attachments.py``),
so an attachment drill has a real store to fetch from. A few sample papers are written at
start-up; a team may drop more files into the directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from mocks.core.errors import ApiError

__all__ = ["STORE_DIR", "SAMPLE_FILES", "seed_store", "read_stored_file"]

STORE_DIR = "store"
# Names only (no directories, no leading dot): a request can never leave the directory.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _sample_pdf(title: str) -> bytes:
    # A minimal one-page PDF: enough for a viewer, deterministic, a few hundred bytes.
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n% " + title.encode() + b"\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


SAMPLE_FILES = {
    "giay-khai-sinh.pdf": _sample_pdf("Giay khai sinh (birth certificate), sample"),
    "to-khai.pdf": _sample_pdf("To khai (declaration form), sample"),
}


def seed_store(data_dir: Path) -> Path:
    """Create ``<data_dir>/store/`` with the sample papers (existing files are kept)."""
    store = data_dir / STORE_DIR
    store.mkdir(parents=True, exist_ok=True)
    for name, content in SAMPLE_FILES.items():
        path = store / name
        if not path.exists():
            path.write_bytes(content)
    return store


async def read_stored_file(request: Request) -> Response:
    """``GET /store/{name}``: one stored file (404 naming ``name`` when there is none)."""
    name = request.path_params["name"]
    path = Path(request.app.state.settings.data_dir) / STORE_DIR / name
    if not _NAME.fullmatch(name) or not path.is_file():
        raise ApiError(404, "unknown_file", "the document store holds no file of that name", "name")
    # One declared type for every file (the OpenAPI states it): the store keeps bytes, not formats.
    return Response(path.read_bytes(), media_type="application/octet-stream")
