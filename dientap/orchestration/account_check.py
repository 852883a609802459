"""Before any load: does the target hold every account the profile will sign in as?

A profile scaled to national size signs in more officers per commune than a target may
hold (the portal mock provisions 5 by default, ``golive --scale 10`` signs in 10). Sent
anyway, the missing accounts' 401s trip the target's defences against guessing — the
stuffing detector, then account lockouts — and the report blames the target for what the
harness did. So the run signs in, once, as each kind of account it will use, and stops
at the first one the target refuses, with an ``ERROR:`` naming the commune and the
account; no load has been sent then, and one refused sign-in trips no defence.

Only a refusal of the account itself (401/403/404) stops the run. A target that answers
otherwise — 5xx, a throttle, no answer — cannot say whether it holds the account; the
check notes that for the service and the run goes on, since a target already down or
defending itself is what the rehearsal is there to show.

What is checked, per active commune and province of the profile:

* portal — the commune's highest-numbered officer (``<commune>.officer<N>``): accounts
  are numbered ``1..N``, so a target holding number N of a commune holds the others;
* axis — the commune's agency system, and the province's;
* population — the province's agency system (``province-NN``).

Citizens are the population's own accounts (their ID numbers), not provisioned for the
run, and are not checked. Each service's sign-ins go out in order over one connection
per source address — the commune's own one on a loopback target
(``kernel.source_addresses``), as the load will send them — and each service is checked
in its own thread. Bounded: one request per account, a time limit for the whole check.

With an accounts file (``credentials.accounts_file``), :func:`accounts_cover` first checks,
with nothing sent, that the file holds every account the profile signs in as and that every
password it names can be read — before the command makes its run directory.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from kernel.accounts_file import AccountsFile
from kernel.configfile import at_their_lines
from kernel.credentials import Credentials, officer_account
from kernel.errors import AccountsMissing, ConfigError, ConfigProblem
from kernel.roster import Commune, load_roster
from kernel.source_addresses import commune_source, province_source

if TYPE_CHECKING:  # scenarios.profile is imported where a profile is resolved (dientap.orchestration.dryrun)
    from scenarios.profile import Profile
from kernel.tls import TlsOptions, client_context

__all__ = ["AccountCheck", "AccountProbe", "account_probes", "accounts_cover", "check_accounts", "CHECK_DEADLINE_S"]

CHECK_DEADLINE_S = 300.0  # the whole check: 3 × 3,321 sign-ins take ≈ 10 s on the mocks
_REQUEST_TIMEOUT_S = 10.0
_ISSUED = (200, 201)
_NOT_ISSUED_YET = 403  # the portal holds the account; the province has not issued it (readiness)


@dataclass(frozen=True, slots=True)
class AccountProbe:
    """One sign-in the check makes: which service, which account, on whose behalf."""

    service: str  # portal | population | axis
    account: str
    body: dict[str, str]
    whose: str  # "commune 00004 Phường Ba Đình (province 01)" — for the error line
    source: str  # the loopback address the load sends it from (used only on a loopback target)
    path: str = "/auth/token"  # the native sign-in; the integration adapter's is its own
    headers: tuple[tuple[str, str], ...] = ()
    fix: str = ""  # what to fix when the target refuses it; empty: provision it (derived accounts)


#: What to fix when the target refuses a derived account (one dientap's secret derives).
PROVISION = "provision it on the target (dientap mocks: --officers-per-commune), or lower --scale"


def _fix_in_file(accounts: AccountsFile | None, account: str) -> str:
    """Where to fix a refused account that comes from the accounts file: its row's password
    (named by where it is read from — never the password itself)."""
    where = accounts.where(account) if accounts is not None else None
    if accounts is None or where is None:
        return ""
    line, reference = where
    return (f"the password {accounts.path}:{line} gives for it ({reference}) is not the one the target holds, or "
            "the target does not hold that account: fix that row, or what it reads from")


#: Shapes with no sign-in to check: every call is signed with the account's secret, so a
#: missing account shows on the first call of the load, as the target answers it.
UNCHECKED_SHAPES = {
    "c06-soap": "every C06 call carries its own hashed Authorization; there is no sign-in to check",
    "vdxp": "every SDK call is signed with the system's secret; there is no sign-in to check",
}


def _portal_probe(officer: str, password: str, whose: str, source: str, protocol: str, fix: str) -> AccountProbe:
    """An officer's sign-in in the shape the portal speaks."""
    if protocol == "dvcqg-adapter":
        from kernel.national.dvcqg import AUTH_PATH, DEFAULT_DSTCODE

        return AccountProbe("portal", officer, {"username": officer, "password": password}, whose, source,
                            AUTH_PATH, (("dstcode", DEFAULT_DSTCODE),), fix)
    return AccountProbe("portal", officer, {"kind": "officer", "account": officer, "password": password}, whose, source,
                        fix=fix)


def account_probes(communes: list[Commune], officers_per_commune: int, credentials: Credentials,
                   accounts: AccountsFile | None = None,
                   protocols: dict[str, str] | None = None) -> dict[str, list[AccountProbe]]:
    """The sign-ins that cover every account of ``communes`` at ``officers_per_commune``
    (officer accounts named by ``accounts`` when the target's come from a file), in the
    shape each service speaks; none for a service whose shape has no sign-in
    (:data:`UNCHECKED_SHAPES`)."""
    shapes = protocols or {}
    password = credentials.password
    by_service: dict[str, list[AccountProbe]] = {"portal": [], "population": [], "axis": []}
    provinces: dict[str, Commune] = {}
    for commune in communes:
        provinces.setdefault(commune.province_code, commune)
        whose = f"commune {commune.code} {commune.name} (province {commune.province_code})"
        source = commune_source(commune.code)
        named = accounts.officer(commune.code, officers_per_commune) if accounts is not None else None
        officer = named or officer_account(commune.code, officers_per_commune)
        by_service["portal"].append(_portal_probe(officer, password(officer), whose, source,
                                                  shapes.get("portal", "native"), _fix_in_file(accounts, officer)))
        by_service["axis"].append(AccountProbe(
            "axis", commune.agency_code,
            {"agency_code": commune.agency_code, "client_secret": password(commune.agency_code)},
            whose, source, fix=_fix_in_file(accounts, commune.agency_code)))
    roster = load_roster()
    for code in sorted(provinces):
        province = roster.province(code)
        whose = f"province {code} {province.name}"
        client = f"province-{code}"
        by_service["population"].append(AccountProbe(
            "population", client, {"client_id": client, "client_secret": password(client)},
            whose, province_source(code), fix=_fix_in_file(accounts, client)))
        by_service["axis"].append(AccountProbe(
            "axis", province.agency_code,
            {"agency_code": province.agency_code, "client_secret": password(province.agency_code)},
            whose, province_source(code), fix=_fix_in_file(accounts, province.agency_code)))
    for service, shape in shapes.items():
        if shape in UNCHECKED_SHAPES:
            by_service[service] = []
    return by_service


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """What the check found: accounts confirmed, and per service why it could not finish."""

    confirmed: int
    unconfirmed: dict[str, str]  # service → what it answered instead (the run goes on)

    def line(self) -> str:
        """The one line the run prints about it."""
        if not self.unconfirmed:
            return f"accounts: the target holds all {self.confirmed:,} the profile signs in as (checked before any load)"
        if all(answer.startswith("not checked") for answer in self.unconfirmed.values()):
            why = "; ".join(f"{service}: {answer}" for service, answer in sorted(self.unconfirmed.items()))
            return f"accounts: the target holds all {self.confirmed:,} checked before any load; {why}"
        why = "; ".join(f"{service}: {answer}" for service, answer in sorted(self.unconfirmed.items()))
        return (f"accounts: {self.confirmed:,} confirmed; not confirmed on {why} — the run goes on, "
                "and the report shows what the target answers")


def check_accounts(
    urls: dict[str, str], probes: dict[str, list[AccountProbe]], *, bind_sources: bool,
    deadline_s: float = CHECK_DEADLINE_S, needed: str = "", tls: dict[str, TlsOptions] | None = None,
    protocols: dict[str, str] | None = None, targets_file: str = "targets.yaml",
) -> AccountCheck:
    """Sign in once as every probed account; raise :class:`AccountsMissing` at the first
    account the target refuses, and :class:`~kernel.errors.ConfigError` naming the TLS
    option of ``targets_file`` to fix when no handshake succeeds. ``needed`` says why the
    run needs them (for the error line)."""
    deadline = time.monotonic() + deadline_s
    with ThreadPoolExecutor(max_workers=max(1, len(probes)), thread_name_prefix="account-check") as pool:
        futures = {service: pool.submit(_check_service, urls[service], items, bind_sources, deadline, needed,
                                        (tls or {}).get(service), targets_file)
                   for service, items in probes.items() if items}
        try:
            results = {service: f.result() for service, f in futures.items()}
        except ConfigError as exc:
            # Found against the live target, but what to fix is a field of the targets file:
            # named at its line (or its nearest parent's, when the field is not there yet).
            raise ConfigError(at_their_lines(exc.problems, targets_file)) from None
    unconfirmed = {service: answer for service, (_, answer) in results.items() if answer is not None}
    for service, shape in (protocols or {}).items():
        if shape in UNCHECKED_SHAPES:
            unconfirmed[service] = f"not checked ({shape}: {UNCHECKED_SHAPES[shape]})"
    return AccountCheck(confirmed=sum(confirmed for confirmed, _ in results.values()), unconfirmed=unconfirmed)


def _check_service(
    base_url: str, probes: list[AccountProbe], bind_sources: bool, deadline: float, needed: str,
    tls_options: TlsOptions | None, targets_file: str,
) -> tuple[int, str | None]:
    """(accounts confirmed, why the rest were not) — raises at a refused account."""
    confirmed = 0
    # One context for all clients (building one costs ≈ 20 ms, ×3,321 communes), with the
    # service's CA, client certificate and verification, as the load will use them.
    tls = client_context(tls_options)
    for source, items in _by_source(probes):
        transport = httpx.HTTPTransport(local_address=source, verify=tls) if bind_sources else None
        with httpx.Client(base_url=base_url, timeout=_REQUEST_TIMEOUT_S, transport=transport, verify=tls) as client:
            for probe in items:
                if time.monotonic() > deadline:
                    return confirmed, f"{len(probes) - confirmed} accounts left after {CHECK_DEADLINE_S:.0f} s"
                answer = _expect_account(client, base_url, probe, needed, targets_file)
                if answer is not None:
                    if not confirmed and answer == _CLOSED and _wants_client_certificate(base_url, tls, tls_options):
                        # The targets file's TLS options are what is wrong: a config error (exit 3).
                        raise ConfigError([ConfigProblem(
                            targets_file, None, f"{probe.service}.tls.client_cert",
                            f"TLS to the {probe.service} at {base_url}: it closes every TLS connection without an "
                            f"answer and no client certificate is configured; if it requires mutual TLS, give "
                            f"{probe.service}.tls.client_cert and client_key; no load was sent")])
                    return confirmed, answer
                confirmed += 1
    return confirmed, None


#: What the check notes when a connection ends before any answer.
_CLOSED = "no answer (RemoteProtocolError)"


def _wants_client_certificate(base_url: str, tls: ssl.SSLContext, options: TlsOptions | None) -> bool:
    """Whether an https server that just closed a connection unanswered does so for every one —
    which, with no client certificate configured, is a server requiring one: with TLS 1.3 it
    checks the client's certificate after the handshake and, refusing, just closes."""
    if not base_url.startswith("https://") or (options is not None and options.client_cert is not None):
        return False
    for _attempt in range(2):  # fresh connections each time: not one unlucky keep-alive close
        try:
            with httpx.Client(timeout=_REQUEST_TIMEOUT_S, verify=tls) as fresh:
                fresh.get(f"{base_url}/healthz")
            return False
        except httpx.RemoteProtocolError:
            continue
        except httpx.HTTPError:
            return False
    return True


def _by_source(probes: list[AccountProbe]) -> Iterator[tuple[str, list[AccountProbe]]]:
    groups: dict[str, list[AccountProbe]] = {}
    for probe in probes:
        groups.setdefault(probe.source, []).append(probe)
    yield from groups.items()


def _expect_account(client: httpx.Client, base_url: str, probe: AccountProbe, needed: str,
                    targets_file: str = "targets.yaml") -> str | None:
    """None when the target holds the account; what it answered when it cannot tell;
    raises :class:`AccountsMissing` when it refuses the account."""
    try:
        reply = client.post(probe.path, json=probe.body, headers=dict(probe.headers))
    except httpx.HTTPError as exc:
        refused = _tls_failure(exc)
        if refused is not None:
            # Not the target defending itself: no request of the run would get through, and
            # what to fix is the targets file's TLS options — a config error (exit 3).
            raise ConfigError([ConfigProblem(
                targets_file, None, f"{probe.service}.tls.ca_bundle",
                f"TLS to the {probe.service} at {base_url} failed: {refused}; give the CA that signed its certificate "
                f"(and {probe.service}.tls.client_cert/client_key if it requires one); no load was sent")]) from None
        return f"no answer ({exc.__class__.__name__})"
    if reply.status_code in _ISSUED or (probe.service == "portal" and reply.status_code == _NOT_ISSUED_YET):
        return None
    code = _error_code(reply)
    if reply.status_code in (401, 403, 404):
        answered = f"HTTP {reply.status_code} {code}".strip()
        why = "" if probe.fix else needed  # an account from the file: its row, not the profile's size, is to fix
        raise AccountsMissing(
            f"account check: the {probe.service} at {base_url} refused account {probe.account!r} of {probe.whose} "
            f"({answered}){why}; {probe.fix or PROVISION}; no load was sent")
    retry = reply.headers.get("Retry-After")
    return f"HTTP {reply.status_code} {code}".strip() + (f", Retry-After {retry} s" if retry else "")


def _tls_failure(exc: BaseException) -> str | None:
    """What the TLS handshake said, when ``exc`` is one failing (None otherwise)."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            # "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ... (_ssl.c:992)" without the C file
            return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(seen))
        seen = seen.__cause__ or seen.__context__
    return None


def _error_code(reply: httpx.Response) -> str:
    """The refusal's code: the native ``{"error": {"code"}}``, or the integration adapter's
    ``{"error_code", "message", "field", "reason"}`` (its ``reason`` is the same code)."""
    try:
        body = reply.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("code", ""))
    reason = body.get("reason")
    return str(reason) if isinstance(reason, str) else ""


def accounts_cover(path: Path, profile: Profile, communes: list[Commune], protocols: dict[str, str]) -> AccountsFile:
    """The accounts file at ``path``, once it is known to hold every account ``profile`` signs in
    as over ``communes`` and every password it names can be read; else :class:`AccountsMissing`
    naming the first commune or row (nothing is sent to the target here)."""
    from kernel.targets import accounts_file

    accounts = accounts_file(path)
    roster = load_roster()
    problems = [str(p) for p in accounts.unknown_communes({c.code for c in roster.communes})]
    problems += [str(p) for p in accounts.unreadable_passwords()]
    provinces = sorted({c.province_code for c in communes})
    systems = [(c.agency_code, f"the document-axis system of commune {c.code} {c.name}") for c in communes]
    systems += [(roster.province(code).agency_code, f"the document-axis system of province {code}") for code in provinces]
    systems += [(f"province-{code}", f"the population-database client of province {code}") for code in provinces]
    if protocols.get("population") == "c06-soap":  # the C06 shape also sends each client's ApiKey
        systems += [(f"apikey:province-{code}", f"the C06 ApiKey of province {code}'s client") for code in provinces]
    problems += accounts.coverage_problems(
        [(c.code, f"commune {c.code} {c.name} (province {c.province_code})") for c in communes],
        profile.officers_per_commune, systems, citizens_needed=profile.citizens.arrivals_per_s > 0)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AccountsMissing(f"accounts file: {problems[0]}{more}; no load was sent")
    return accounts
