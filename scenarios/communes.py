"""Which communes go live in a profile, and which actor plays which commune.

Every simulated actor belongs to a real commune of the roster. Officer slots are laid
out commune by commune (officer 1 of every commune first, then officer 2 ...), so a run
that starts only part of its users still spreads them over every commune. Which user
plays which slot is dealt run-wide by :mod:`scenarios.dealing`, so distributed runs play
every slot exactly once whatever Locust's split of users over workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.accounts_file import AccountsFile
from kernel.credentials import officer_account
from kernel.roster import Commune, Province, Roster, load_roster
from scenarios.profile import Profile

__all__ = ["OfficerSlot", "active_communes", "officer_slots", "slot_at"]


@dataclass(frozen=True, slots=True)
class OfficerSlot:
    """One commune officer the load plays."""

    commune: Commune
    number: int
    named: str | None = None  # the account an accounts file gives this slot (kernel.accounts_file)

    @property
    def account(self) -> str:
        """The officer's portal account: the accounts file's, or the mocks' ``00004.officer1``."""
        return self.named or officer_account(self.commune.code, self.number)


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


def officer_slots(profile: Profile, roster: Roster | None = None,
                  accounts: AccountsFile | None = None) -> list[OfficerSlot]:
    """Every officer slot of the profile, officer 1 of every commune first — with
    ``accounts``, each slot named by the file's officer accounts of its commune, in order."""
    communes = active_communes(profile, roster)
    return [OfficerSlot(c, n, accounts.officer(c.code, n) if accounts is not None else None)
            for n in range(1, profile.officers_per_commune + 1) for c in communes]


def slot_at(slots: list[OfficerSlot], index: int) -> OfficerSlot:
    """The slot of the officer dealt run-wide ``index`` (see :mod:`scenarios.dealing`).

    Indices stay below ``len(slots)`` (one Locust user per slot); the modulo only keeps
    an unexpected extra user on a real commune.
    """
    return slots[index % len(slots)]


def provinces_of(communes: list[Commune], roster: Roster | None = None) -> list[Province]:
    """The distinct provinces of ``communes`` in roster order."""
    roster = roster or load_roster()
    codes = {c.province_code for c in communes}
    return [p for p in roster.provinces if p.code in codes]
