"""The simulated go-live world inside one Locust process.

Holds what every persona of the process shares: the run config, the roster, the officer
slots, the provinces' catalogues (fetched once), and the acknowledgement ledger — every
dossier, payment, document and receipt a target acknowledged, with the idempotency key
used, so drills can reconcile what the target holds against what it promised.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from kernel.accounts_file import AccountsFile
from kernel.ack_ledger import AckLedger
from kernel.roster import Roster, load_roster
from kernel.synthetic import Citizen, citizen_at
from scenarios.adapters import SystemAdapters, TargetSpec, adapters_for
from scenarios.communes import OfficerSlot, active_communes, officer_slots, slot_at
from scenarios.dealing import AGENCY_ROLE, OFFICER_ROLE, RoleDealer, attach_dealer
from scenarios.runconfig import RunConfig
from scenarios.shipped_records import write_players

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
        self.provinces = sorted({c.province_code for c in self.communes})  # one agency each
        accounts = self.target.credentials
        self.accounts: AccountsFile | None = accounts if isinstance(accounts, AccountsFile) else None
        self.slots: list[OfficerSlot] = officer_slots(self.profile, self.roster, self.accounts)
        self.ledger = AckLedger()
        self._catalogues: dict[str, list[dict[str, Any]]] = {}
        # One player per officer slot and per agency across the whole run (see scenarios.dealing).
        self.dealer: RoleDealer = attach_dealer(environment) if getattr(environment, "runner", None) else RoleDealer()
        # Each role's size, so the master holds an ask it cannot answer within it (a late
        # worker's users asking before the old worker's give-backs arrive) instead of dealing
        # past the end. (The arrival shares' count is the run's, not the profile's: attach_dealer.)
        self.dealer.set_size(OFFICER_ROLE, len(self.slots))
        self.dealer.set_size(AGENCY_ROLE, len(self.provinces))
        self.players: dict[str, list[str]] = {}  # role → who this process played, in dealing order

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

    def citizen(self, rng: random.Random) -> Citizen:
        """The citizen of an arrival: one of the accounts file's, or one of the synthetic population."""
        if self.accounts is None:
            return citizen_at(self.config.seed, rng.randrange(self.config.population_size), self.roster)
        held = self.accounts.citizens[rng.randrange(len(self.accounts.citizens))]
        commune = self.roster.commune(held.commune_code)  # checked when the file was accepted for the run
        return Citizen(index=-1, personal_id=held.personal_id, full_name=held.full_name,
                       date_of_birth=held.date_of_birth, sex="", commune_code=held.commune_code,
                       province_code=commune.province_code, address="")

    def deal_slot(self) -> tuple[int, OfficerSlot]:
        """A new officer's run-wide index and the slot it plays."""
        index = self.dealer.deal(OFFICER_ROLE)
        slot = slot_at(self.slots, index)
        self.players.setdefault(OFFICER_ROLE, []).append(slot.account)
        return index, slot

    def deal_province(self) -> tuple[int, str]:
        """A new provincial agency's run-wide index and its province code."""
        index = self.dealer.deal(AGENCY_ROLE)
        code = self.provinces[index % len(self.provinces)]
        self.players.setdefault(AGENCY_ROLE, []).append(code)
        return index, code

    def release(self, role: str, index: int) -> None:
        """A player of ``role`` stopped: its index may be dealt again."""
        self.dealer.release(role, index)

    def dump_players(self, path: Path) -> None:
        """Write who this process played (officer accounts, agency provinces) as JSON:
        the evidence that every commune had its officers and no two processes played one."""
        write_players(path, self.players)

