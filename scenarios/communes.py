"""Which communes go live in a profile, and which actor plays which commune.

Every simulated actor belongs to a real commune of the roster. Officer slots are laid
out commune by commune (officer 1 of every commune first, then officer 2 ...), so a run
that starts only part of its users still spreads them over every commune, and slots are
dealt to workers round-robin by worker index so distributed runs cover every commune too.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.credentials import officer_account
from kernel.roster import Commune, Province, Roster, load_roster
from scenarios.profile import Profile

__all__ = ["OfficerSlot", "active_communes", "officer_slots", "slot_for_user"]


@dataclass(frozen=True, slots=True)
class OfficerSlot:
    """One commune officer the load plays."""

    commune: Commune
    number: int

    @property
    def account(self) -> str:
        """The officer's portal account, e.g. ``00004.officer1``."""
        return officer_account(self.commune.code, self.number)


def active_communes(profile: Profile, roster: Roster | None = None) -> list[Commune]:
    """The communes that go live: all, or the N largest (by merged-commune count) per province."""
    roster = roster or load_roster()
    if profile.communes.select == "all":
        return list(roster.communes)
    chosen: list[Commune] = []
    for province in roster.provinces:
        communes = sorted(roster.communes_of(province.code), key=lambda c: (-c.size_weight, c.code))
        chosen.extend(communes[: profile.communes.per_province])
    return chosen


def officer_slots(profile: Profile, roster: Roster | None = None) -> list[OfficerSlot]:
    """Every officer slot of the profile, officer 1 of every commune first."""
    communes = active_communes(profile, roster)
    return [OfficerSlot(c, n) for n in range(1, profile.officers_per_commune + 1) for c in communes]


def slot_for_user(slots: list[OfficerSlot], user_index: int, worker_index: int, worker_count: int) -> OfficerSlot:
    """The slot of the ``user_index``-th officer user started on worker ``worker_index``."""
    position = (user_index * max(1, worker_count) + worker_index) % len(slots)
    return slots[position]


def provinces_of(communes: list[Commune], roster: Roster | None = None) -> list[Province]:
    """The distinct provinces of ``communes`` in roster order."""
    roster = roster or load_roster()
    codes = {c.province_code for c in communes}
    return [p for p in roster.provinces if p.code in codes]
