"""What a check works with: allowlisted HTTP clients, sign-in helpers, fixtures it creates.

Every request goes through :meth:`CheckContext.send`, which keeps the check inside its
time budget; clients are created only for allowlisted base URLs.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx

from drills.security.evidence import Redactor
from drills.security.target import SERVICES, SecurityLimits, SecurityTarget
from kernel.credentials import derive_password, officer_account
from kernel.pki import DryRunCA
from kernel.synthetic import Citizen, citizen_at
from reports.security_scorecard import EvidenceExcerpt

__all__ = ["CheckContext", "CheckTimeout", "Dossier", "SetupFailed", "THROTTLED", "UNAVAILABLE", "require_judged"]


class CheckTimeout(Exception):
    """The check ran out of its time budget."""


class SetupFailed(Exception):
    """The check could not prepare what it attacks (e.g. sign-in refused): verdict ERROR."""

    def __init__(self, message: str, response: httpx.Response | None = None):
        super().__init__(message)
        self.response = response


#: Answers that say the target did not judge a request at all, only refused to take it.
THROTTLED = frozenset({429})
UNAVAILABLE = frozenset(range(500, 600))
_WHY_UNJUDGED = {401: "the caller's valid token was refused", 404: "the route is not there",
                 405: "the route is not there", 429: "throttled"}


def require_judged(response: httpx.Response, what: str, unjudged: frozenset[int] | set[int]) -> None:
    """Raise :class:`SetupFailed` when ``response``'s status is in ``unjudged``.

    A refusal that has nothing to do with the attack — throttled, a service down, the
    route gone — proves nothing either way: judged as a refusal it would pass a check the
    target never had to answer, so the check is ERROR (not run), never PASS.
    """
    status = response.status_code
    if status in unjudged:
        why = "the service failed" if status >= 500 else _WHY_UNJUDGED.get(status, "not the attack's answer")
        raise SetupFailed(f"{what} answered {status} ({why}): the target never judged it, so the check cannot "
                          "say whether it holds", response)


@dataclass(frozen=True)
class Dossier:
    """A dossier a check created as its victim."""

    code: str
    owner: Citizen
    owner_token: str


class CheckContext:
    """Shared by the checks of one suite run (one instance per run, closed at the end)."""

    def __init__(self, target: SecurityTarget, limits: SecurityLimits | None = None, *, under_load: bool = False,
                 transport: httpx.BaseTransport | None = None):
        target.check_allowed()
        self.target = target
        # Under load the services' global ledgers move by themselves: checks then judge
        # "no change of state" by what they can attribute to themselves only.
        self.under_load = under_load
        self.limits = limits or SecurityLimits()
        self.redactor = Redactor({target.dry_run_secret, target.admin_token or ""})
        self._transport = transport  # tests only: an in-process fake of the three services
        self.clients = {name: self.new_client(name) for name in SERVICES}
        # Start each run at a random citizen, so re-runs against one target do not reuse
        # (and find locked) the accounts of the previous run.
        self._base = secrets.randbelow(max(1, target.population_size))
        self._next = 0
        self._deadline = float("inf")
        self._tokens: dict[tuple[str, str], str] = {}
        self._procedures: dict[str, str] = {}
        self._ledger_unread: dict[str, str] = {}  # service → why its ledger could not be read last

    # -- time -------------------------------------------------------------------------

    def start_check(self) -> None:
        """Start the clock of one check (its budget is ``limits.check_timeout_s``)."""
        self._deadline = time.monotonic() + self.limits.check_timeout_s

    def time_left(self) -> float:
        """Seconds left in the current check's budget."""
        return self._deadline - time.monotonic()

    # -- HTTP -------------------------------------------------------------------------

    def new_client(self, service: str) -> httpx.Client:
        """A new HTTP client for ``service`` (for a check's own thread; close it after use)."""
        return httpx.Client(base_url=self.target.urls[service], timeout=self.limits.request_timeout_s,
                            transport=self._transport)

    def send(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to ``service`` (raises :class:`CheckTimeout` past the check's budget)."""
        if self.time_left() <= 0:
            raise CheckTimeout("the check ran out of time")
        kwargs.setdefault("timeout", min(self.limits.request_timeout_s, max(0.5, self.time_left())))
        return self.clients[service].request(method, path, **kwargs)

    def excerpt(self, response: httpx.Response, note: str | None = None) -> EvidenceExcerpt:
        """Redacted evidence of ``response``."""
        return self.redactor.excerpt(response, note)

    def close(self) -> None:
        """Close the HTTP clients."""
        for client in self.clients.values():
            client.close()

    # -- people -----------------------------------------------------------------------

    def citizen(self) -> Citizen:
        """A citizen of the target's population no other check of this run has used."""
        index = (self._base + self._next * 7) % self.target.population_size
        self._next += 1
        return citizen_at(self.target.seed, index)

    def password(self, account: str) -> str:
        """The dry-run password of ``account`` (also redacted from evidence from now on)."""
        password = derive_password(self.target.dry_run_secret, account)
        self.redactor.add(password)
        return password

    def citizen_login(self, personal_id: str, password: str | None = None, **kw: Any) -> httpx.Response:
        """``POST /auth/token`` for a citizen (right password unless given)."""
        body = {"kind": "citizen", "personal_id": personal_id,
                "password": self.password(personal_id) if password is None else password}
        return self.send("portal", "POST", "/auth/token", json=body, **kw)

    def officer_login(self, account: str, password: str | None = None, **kw: Any) -> httpx.Response:
        """``POST /auth/token`` for a commune officer (right password unless given)."""
        body = {"kind": "officer", "account": account,
                "password": self.password(account) if password is None else password}
        return self.send("portal", "POST", "/auth/token", json=body, **kw)

    def _token(self, response: httpx.Response, what: str) -> str:
        if response.status_code != 200:
            raise SetupFailed(f"sign-in as {what} answered {response.status_code}", response)
        token = response.json()["access_token"]
        self.redactor.add(token)
        return token

    def citizen_token(self, citizen: Citizen) -> str:
        """A fresh portal token of ``citizen``."""
        return self._token(self.citizen_login(citizen.personal_id), f"citizen {citizen.personal_id}")

    def signed_in_citizen(self) -> tuple[Citizen, str]:
        """A fresh citizen and their portal token, skipping accounts a previous run left locked."""
        for _ in range(5):
            citizen = self.citizen()
            r = self.citizen_login(citizen.personal_id)
            if r.status_code not in (423, 429):
                return citizen, self._token(r, f"citizen {citizen.personal_id}")
        raise SetupFailed("five citizens in a row could not sign in (locked or throttled)", r)

    def officer_token(self, commune_code: str, number: int = 1) -> str:
        """A portal token of officer ``number`` of ``commune_code`` (cached for the run)."""
        account = officer_account(commune_code, number)
        key = ("portal-officer", account)
        if key not in self._tokens:
            self._tokens[key] = self._token(self.officer_login(account), f"officer {account}")
        return self._tokens[key]

    def population_token(self, client_id: str) -> str:
        """A population token of client system ``client_id`` (cached for the run)."""
        key = ("population", client_id)
        if key not in self._tokens:
            body = {"client_id": client_id, "client_secret": self.password(client_id)}
            self._tokens[key] = self._token(self.send("population", "POST", "/auth/token", json=body), client_id)
        return self._tokens[key]

    def axis_token(self, agency_code: str) -> str:
        """An axis token of agency ``agency_code`` (cached for the run)."""
        key = ("axis", agency_code)
        if key not in self._tokens:
            body = {"agency_code": agency_code, "client_secret": self.password(agency_code)}
            self._tokens[key] = self._token(self.send("axis", "POST", "/auth/token", json=body), agency_code)
        return self._tokens[key]

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        """The Authorization header for ``token``."""
        return {"Authorization": f"Bearer {token}"}

    # -- portal fixtures --------------------------------------------------------------

    def procedure(self, province_code: str) -> str:
        """A published procedure code of ``province_code``."""
        if province_code not in self._procedures:
            r = self.send("portal", "GET", "/procedures", params={"province": province_code})
            procedures = r.json().get("procedures", []) if r.status_code == 200 else []
            if not procedures:
                raise SetupFailed(f"no published procedure for province {province_code}", r)
            self._procedures[province_code] = procedures[0]["code"]
        return self._procedures[province_code]

    def dossier_body(self, citizen: Citizen, **extra: Any) -> dict[str, Any]:
        """A valid submission body for ``citizen`` at their own commune."""
        return {
            "procedure_code": self.procedure(citizen.province_code),
            "commune_code": citizen.commune_code,
            "applicant": {"personal_id": citizen.personal_id, "full_name": citizen.full_name,
                          "date_of_birth": citizen.date_of_birth.isoformat()},
            "fields": {"reason": "dientap security drill"},
            **extra,
        }

    def submit(self, token: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        """``POST /dossiers`` with an Idempotency-Key (random unless given)."""
        headers = {**self.bearer(token), "Idempotency-Key": key or secrets.token_hex(8)}
        return self.send("portal", "POST", "/dossiers", json=body, headers=headers)

    def victim_dossier(self) -> Dossier:
        """A fresh citizen with a freshly submitted dossier (the object of an attack)."""
        owner, token = self.signed_in_citizen()
        r = self.submit(token, self.dossier_body(owner))
        if r.status_code != 201:
            raise SetupFailed(f"submitting the victim dossier answered {r.status_code}", r)
        return Dossier(r.json()["code"], owner, token)

    def dossier_status(self, dossier: Dossier) -> int | None:
        """The status of ``dossier`` as its owner sees it (``None`` if the owner is refused it).

        Throttled, failing, or the owner's own token refused, the read says nothing about
        the dossier: :class:`SetupFailed`, not a status of ``None`` to be judged.
        """
        r = self.send("portal", "GET", f"/dossiers/{dossier.code}", headers=self.bearer(dossier.owner_token))
        require_judged(r, "the owner's read of their dossier", THROTTLED | UNAVAILABLE | {401})
        return r.json().get("status") if r.status_code == 200 else None

    def citizen_commune_agency(self) -> str:
        """The People's Committee agency code of a fresh citizen's commune (a document recipient)."""
        from kernel.roster import load_roster

        return load_roster().commune(self.citizen().commune_code).agency_code

    def own_dossiers(self, citizen: Citizen) -> int:
        """How many dossiers of ``citizen`` their commune's worklist holds.

        A worklist that answers anything but 200 raises :class:`SetupFailed`: an unread list
        counts nothing, and "unchanged" between two unread counts would hold trivially.
        """
        headers = self.bearer(self.officer_token(citizen.commune_code, 4))
        count, cursor = 0, ""
        for _ in range(10):  # bounded: 2,000 dossiers of one commune
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            r = self.send("portal", "GET", "/dossiers", headers=headers, params=params)
            if r.status_code != 200:
                raise SetupFailed(f"the commune worklist answered {r.status_code}: the citizen's dossiers cannot be "
                                  "counted, so whether the attack stored one cannot be judged", r)
            page = r.json()
            count += sum(1 for d in page.get("items", []) if d.get("applicant_name") == citizen.full_name)
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        return count

    # -- ledgers ----------------------------------------------------------------------

    def ledger(self, service: str) -> dict[str, int] | None:
        """``GET /admin/ledger`` counts of ``service``; ``None`` when they could not be read —
        :meth:`ledger_not_compared` then says why. The ledger is an extra witness: the checks
        judge by what they read back themselves, and compare the ledger when they have it."""
        if self.under_load:
            self._ledger_unread[service] = "under load, the load moves it"
            return None
        if not self.target.admin_token:
            self._ledger_unread[service] = "no admin token"
            return None
        r = self.send(service, "GET", "/admin/ledger", headers=self.bearer(self.target.admin_token))
        try:
            counts = r.json().get("counts") if r.status_code == 200 else None
        except (ValueError, AttributeError):  # not JSON, or not an object
            counts = None
        if not isinstance(counts, dict):
            what = f"answered {r.status_code}" if r.status_code != 200 else "answered no counts"
            self._ledger_unread[service] = f"GET /admin/ledger {what}"
            return None
        self._ledger_unread.pop(service, None)
        return counts

    def ledger_not_compared(self, service: str) -> str | None:
        """The note for a check that could not compare ``service``'s ledger, naming why (the
        last :meth:`ledger` read that failed); ``None`` under load, where that is the rule."""
        if self.under_load:
            return None
        return f"{service}: ledger not compared ({self._ledger_unread.get(service, 'not read')})"

    # -- documents --------------------------------------------------------------------

    @cached_property
    def ca(self) -> DryRunCA | None:
        """The target's dry-run CA (signing keys of every agency), if the run has it."""
        pki = self.target.pki_dir
        if pki is None or not (pki / "ca.key").exists():
            return None
        return DryRunCA.load_or_create(pki)

    @staticmethod
    def today() -> dt.date:
        """Today (UTC), for document dates."""
        return dt.datetime.now(dt.UTC).date()
