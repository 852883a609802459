"""The district-tier switch of the portal and the axis: the go-live-night cut-over.

Since 1 July 2025 the district tier is gone and both services refuse it (a dossier to a
district unit: 422 ``district_closed``; a document to a district committee: 422
``recipient_closed``, each naming the successors). For a rehearsal of the night itself
the readiness profile's one switch, ``district_tier: open`` (:mod:`mocks.core.readiness`,
declared there once), starts a service with the 208 synthesized district-level units
(:mod:`kernel.districts`) still receiving. An admin then closes the tier, as the
cut-over job would, with ``POST /admin/district-tier {"status": "closed"}``: one way (a
tier that closed is not reopened), idempotent (closing a closed tier changes nothing).
``GET /admin/district-tier`` reads the switch.

The close is durable: given the service's database, the switch writes the closing (one row)
before it answers, and a switch opened on that database later starts closed whatever the
readiness profile says — a restart, a crash included, must not reopen a tier the cut-over
closed (a dossier filed at a district unit after its migration would land in no worklist).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from mocks.core.app import Endpoint
from mocks.core.http import RequestModel, json_response, read_json

__all__ = ["DISTRICT_TIER_SCHEMA", "DistrictTierChange", "DistrictTierSwitch", "change_district_tier",
           "district_tier_endpoints", "read_district_tier", "tier_switch"]

DISTRICT_TIER_SCHEMA = {
    "type": "object",
    "required": ["status", "closed_at"],
    "properties": {"status": {"type": "string", "enum": ["open", "closed"]},
                   "closed_at": {"type": ["string", "null"]}},
}


class DistrictTierChange(RequestModel):
    """``POST /admin/district-tier``: the only change is closing it (the cut-over is one way)."""

    status: Literal["closed"]


_CLOSED_TABLE = "CREATE TABLE IF NOT EXISTS district_tier_closed (id INTEGER PRIMARY KEY CHECK (id = 1), closed_at TEXT NOT NULL)"


class DistrictTierSwitch:
    """Whether the district-level units still receive; starts as the readiness profile says,
    unless ``conn`` (the service's database) records that the tier was closed already."""

    def __init__(self, open_at_start: bool, conn: sqlite3.Connection | None = None):
        self.is_open = open_at_start
        self.closed_at: str | None = None
        self._conn = conn
        if conn is not None:
            conn.execute(_CLOSED_TABLE)
            row = conn.execute("SELECT closed_at FROM district_tier_closed WHERE id = 1").fetchone()
            if row is not None:
                self.is_open, self.closed_at = False, row[0]

    def close(self) -> bool:
        """Close the tier now (committed before it returns); False when it was closed already."""
        if not self.is_open:
            return False
        closed_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if self._conn is not None:  # autocommit: durable when execute returns, before the answer
            self._conn.execute("INSERT OR IGNORE INTO district_tier_closed (id, closed_at) VALUES (1, ?)", (closed_at,))
        self.is_open, self.closed_at = False, closed_at
        return True

    def to_json(self) -> dict[str, str | None]:
        """The admin API's view."""
        return {"status": "open" if self.is_open else "closed", "closed_at": self.closed_at}


def tier_switch(request: Request) -> DistrictTierSwitch:
    """The service's switch, made from its readiness profile at the first use."""
    switch = getattr(request.app.state, "district_tier", None)
    if switch is None:
        switch = request.app.state.district_tier = DistrictTierSwitch(
            request.app.state.readiness.district_tier == "open")
    return switch


async def read_district_tier(request: Request) -> Response:
    """``GET /admin/district-tier``."""
    return json_response(tier_switch(request).to_json())


async def change_district_tier(request: Request) -> Response:
    """``POST /admin/district-tier``: close the tier (idempotent)."""
    await read_json(request, DistrictTierChange)
    switch = tier_switch(request)
    switch.close()
    return json_response(switch.to_json())


def district_tier_endpoints() -> list[Endpoint]:
    """The admin routes of the switch, mounted by the portal and the axis."""
    return [
        Endpoint("GET", "/admin/district-tier", read_district_tier, "Whether the district-level units still receive",
                 None, DISTRICT_TIER_SCHEMA, auth="admin", tags=("admin",)),
        Endpoint("POST", "/admin/district-tier", change_district_tier,
                 "Close the district tier (the go-live cut-over; one way, idempotent)",
                 DistrictTierChange, DISTRICT_TIER_SCHEMA, auth="admin", tags=("admin",)),
    ]
