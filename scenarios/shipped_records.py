"""A worker's records — what the target acknowledged to it (its ledger) and who it played —
shipped to the master as they grow, not only at the end.

They used to ride on the worker's final report alone, so a worker killed mid-run (SIGKILL,
a lost machine) took its whole ledger with it, and a drill's reconciliation could not
account for anything that worker had been acknowledged. Now every periodic report
(``scenarios.distributed``, every ≈ 2 s) carries what was recorded since the one before:
a dead worker loses at most its last report's worth, and the master writes what it got.

* the worker's :class:`RecordsOutbox` takes the ledger items recorded since the last take
  (:meth:`kernel.ack_ledger.AckLedger.take_fresh`) and the players dealt since (a role's
  list only grows, so a count per role marks what went); a report that cannot be sent puts
  its take back, and the next report carries it, once;
* the master's :class:`RecordsInbox` adds each take to that worker's records, in arrival
  order (one worker's reports arrive in the order sent), and writes the worker's
  ``ledgers/<name>.json`` and ``players/<name>.json`` when its final report comes, and at
  the master's stop for every worker whose final report never came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.ack_ledger import AckLedger
from kernel.atomic_file import atomic_write_text

__all__ = ["RecordsDelta", "RecordsOutbox", "RecordsInbox", "LEDGERS_DIR", "PLAYERS_DIR", "write_players"]

PLAYERS_DIR = "players"  # per load process: the officer accounts and agency provinces it played
LEDGERS_DIR = "ledgers"  # per load process: what the target acknowledged to it


def write_players(path: Path, players: dict[str, list[str]]) -> None:
    """Write who one load process played (a master writes its workers' too)."""
    atomic_write_text(path, json.dumps(players, sort_keys=True))


@dataclass
class RecordsDelta:
    """One worker's records since its previous report, in a msgpack-friendly form."""

    name: str  # the worker's node name ("worker-3"): its files' name on the master
    ledger: dict[str, dict[str, str]] = field(default_factory=dict)  # kind → {id: idempotency key}
    players: dict[str, list[str]] = field(default_factory=dict)  # role → who was dealt, in order

    def is_empty(self) -> bool:
        """True when nothing was recorded or dealt since the last report."""
        return not (any(self.ledger.values()) or any(self.players.values()))

    def to_wire(self) -> dict[str, Any]:
        """Plain dicts, lists and strings for Locust's message transport."""
        return {"name": self.name, "ledger": self.ledger, "players": self.players}

    @classmethod
    def from_wire(cls, data: Any) -> RecordsDelta:
        """Inverse of :meth:`to_wire`; a message of the wrong shape raises ``ValueError``
        naming what is wrong — the name becomes a file name on the master, so it is held to one."""
        if not isinstance(data, dict):
            raise ValueError(f"records: expected a mapping, got {type(data).__name__}")
        name = data.get("name")
        if not isinstance(name, str) or not name or not name.replace("-", "").isalnum():
            raise ValueError(f"records.name: {name!r} is not a worker name (letters, digits and '-')")
        ledger, players = data.get("ledger") or {}, data.get("players") or {}
        if not isinstance(ledger, dict) or not all(
            isinstance(kind, str) and isinstance(items, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in items.items())
            for kind, items in ledger.items()
        ):
            raise ValueError("records.ledger: expected {kind: {id: key}} of strings")
        if not isinstance(players, dict) or not all(
            isinstance(role, str) and isinstance(played, list) and all(isinstance(p, str) for p in played)
            for role, played in players.items()
        ):
            raise ValueError("records.players: expected {role: [player, ...]} of strings")
        return cls(name, ledger, players)


class RecordsOutbox:
    """A worker's records not yet in a report: the part of its ledger and players since the
    last :meth:`take`. Turns on the ledger's tracking of fresh items."""

    def __init__(self, name: str, ledger: AckLedger, players: dict[str, list[str]]):
        self.name = name
        self._ledger = ledger
        self._players = players  # the world's own lists: they only grow
        self._shipped: dict[str, int] = {}  # role → how many of its players went already
        ledger.track_fresh()

    def take(self) -> RecordsDelta:
        """What was recorded and dealt since the last take (empty when nothing was)."""
        players: dict[str, list[str]] = {}
        for role, played in self._players.items():
            sent = self._shipped.get(role, 0)
            if len(played) > sent:
                players[role] = played[sent:]
                self._shipped[role] = len(played)
        return RecordsDelta(self.name, self._ledger.take_fresh(), players)

    def put_back(self, delta: RecordsDelta) -> None:
        """A take that could not be sent: the next take carries it again, exactly once."""
        self._ledger.put_back_fresh(delta.ledger)
        for role, players in delta.players.items():
            self._shipped[role] -= len(players)


class RecordsInbox:
    """The master's records of each of its workers, written into its run directory."""

    def __init__(self, run_dir: Path):
        self._run_dir = run_dir
        self._ledgers: dict[str, AckLedger] = {}
        self._players: dict[str, dict[str, list[str]]] = {}
        self._unwritten: set[str] = set()

    def absorb(self, delta: RecordsDelta, final: bool) -> None:
        """Add one report's records; a worker's final report writes its files."""
        ledger = self._ledgers.setdefault(delta.name, AckLedger())
        for kind, items in delta.ledger.items():
            ledger.entries.setdefault(kind, {}).update(items)
        players = self._players.setdefault(delta.name, {})
        for role, played in delta.players.items():
            players.setdefault(role, []).extend(played)
        self._unwritten.add(delta.name)
        if final:
            self.write(delta.name)

    def write(self, name: str) -> None:
        """Write ``name``'s ledger and players as received so far."""
        self._ledgers.get(name, AckLedger()).dump(self._run_dir / LEDGERS_DIR / f"{name}.json")
        write_players(self._run_dir / PLAYERS_DIR / f"{name}.json", self._players.get(name, {}))
        self._unwritten.discard(name)

    def write_unwritten(self) -> list[str]:
        """Write every worker whose latest records are not on disk yet — at the master's stop,
        those whose final report never came (killed, lost). Returns their names."""
        names = sorted(self._unwritten)
        for name in names:
            self.write(name)
        return names
