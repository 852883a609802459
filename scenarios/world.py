"""The simulated go-live world inside one Locust process.

Holds what every persona of the process shares: the run config, the roster, the officer
slots, the provinces' catalogues (fetched once), and the acknowledgement ledger — every
dossier, payment, document and receipt a target acknowledged, with the idempotency key
used, so drills can reconcile what the target holds against what it promised.
"""

from __future__ import annotations

import threading
from typing import Any

from kernel.ack_ledger import AckLedger
from kernel.roster import Roster, load_roster
from scenarios.adapters import SystemAdapters, TargetSpec, adapters_for
from scenarios.communes import OfficerSlot, active_communes, officer_slots
from scenarios.runconfig import RunConfig

__all__ = ["AckLedger", "World"]


class World:
    """Per-process state shared by the personas (created once per Locust environment)."""

    def __init__(self, environment: Any, config: RunConfig, roster: Roster | None = None):
        self.environment = environment
        self.config = config
        self.profile = config.profile
        self.roster = roster or load_roster()
        self.target: TargetSpec = config.target_spec()
        self.communes = active_communes(self.profile, self.roster)
        self.slots: list[OfficerSlot] = officer_slots(self.profile, self.roster)
        self.ledger = AckLedger()
        self._catalogues: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.officers_started = 0
        self.agencies_started = 0

    def adapters(self, province: str) -> SystemAdapters:
        """The adapters of ``province``'s gateway."""
        return adapters_for(self.environment, self.target, province)

    def catalogue(self, province: str) -> list[dict[str, Any]]:
        """The province's procedures, fetched once (empty when unpublished or unreachable)."""
        cached = self._catalogues.get(province)
        if cached is None:
            reply = self.adapters(province).portal.procedures(province)
            cached = list(reply.data.get("procedures", [])) if reply.ok else []
            if reply.ok:
                self._catalogues[province] = cached
        return cached

    def remember_catalogue(self, province: str, procedures: list[dict[str, Any]]) -> None:
        """Keep a catalogue a persona fetched itself."""
        self._catalogues[province] = procedures

    def next_agency_index(self) -> int:
        """A process-wide counter that deals provinces to agency users."""
        with self._lock:
            index = self.agencies_started
            self.agencies_started += 1
            return index

    def next_officer_index(self) -> int:
        """A process-wide counter that deals officer slots to users."""
        with self._lock:
            index = self.officers_started
            self.officers_started += 1
            return index
