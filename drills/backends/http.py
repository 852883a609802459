"""HTTP faults through the mocks' ``/admin/faults`` API (latency, errors, resets, hangs, outages)."""

from __future__ import annotations

import httpx

from drills.backends.protocol import InjectedFaultBackend, LeftBehind
from drills.model import Fault, fault_id
from kernel.allowlist import Allowlist
from kernel.errors import UsageError

__all__ = ["HttpFaultBackend", "fault_id"]


class HttpFaultBackend(InjectedFaultBackend):
    """Injects and removes fault rules on each service's admin API (admin token required)."""

    def __init__(self, urls: dict[str, str], admin_token: str | None, allowlist: Allowlist, *, timeout_s: float = 3.0):
        for service, url in urls.items():
            allowlist.check_url(url, what=service)
        self.urls = dict(urls)
        self._token = admin_token
        self._http = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {admin_token or ''}"})
        self.unreachable: set[str] = set()  # services the rollback could not reach (not asked again)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _need_token(self) -> None:
        if not self._token:
            raise UsageError("HTTP faults need the target's admin token (targets file: credentials.admin_token_env)")

    def inject(self, fault: Fault) -> dict[str, str | int | float | bool | None]:
        """``POST /admin/faults`` on the fault's target; returns the rule as the journal detail."""
        self._need_token()
        assert fault.http is not None  # nosec B101
        body = {"id": fault_id(fault), **fault.http.model_dump(exclude_none=True, mode="json")}
        response = self._http.post(f"{self.urls[fault.target]}/admin/faults", json=body)
        if response.status_code != 201:
            raise RuntimeError(
                f"{fault.target} refused the fault {body['id']}: HTTP {response.status_code} {response.text[:300]}"
            )
        detail: dict[str, str | int | float | bool | None] = {
            "id": body["id"], "kind": fault.http.kind, "route": fault.http.route, "rate": fault.http.rate,
        }
        if fault.http.province:
            detail["province"] = fault.http.province
        if fault.http.kind == "error":
            detail["status"] = fault.http.status
        if fault.http.latency is not None:
            shape = fault.http.latency
            detail["latency"] = f"{shape.distribution} {shape.ms or shape.median_ms or shape.max_ms:g} ms"
        return detail

    def remove(self, fault: Fault) -> str:
        """``DELETE /admin/faults/{id}``; an already-gone fault (restart, expiry) is fine."""
        self._need_token()
        response = self._http.delete(f"{self.urls[fault.target]}/admin/faults/{fault_id(fault)}")
        if response.status_code == 404:
            return "already gone"
        response.raise_for_status()
        return "removed"

    def clear_all(self) -> dict[str, int | str]:
        """``DELETE /admin/faults`` on every service (the rollback); unreachable services are reported."""
        removed: dict[str, int | str] = {}
        if not self._token:
            return removed
        for service, url in self.urls.items():
            try:
                response = self._http.delete(f"{url}/admin/faults")
                removed[service] = (
                    int(response.json().get("removed", 0)) if response.status_code == 200 else f"HTTP {response.status_code}"
                )
            except (httpx.HTTPError, ValueError) as exc:
                removed[service] = type(exc).__name__
                self.unreachable.add(service)
        return removed

    def left_behind(self, *, embedded: bool) -> LeftBehind:
        """Faults still in force per service. An embedded mock that no longer answers is
        stopping (a terminal's Ctrl-C reaches it too); its faults live in its memory and end
        with it, so it is a note, not a leftover."""
        counts: dict[str, int] = {}
        notes: dict[str, str] = {}
        for service, count in self.active().items():
            if count == -1 and embedded:
                notes[service] = "unreachable: embedded mock stopping, its faults end with it"
            elif count:
                counts[service] = count
        return LeftBehind(counts, notes)

    def active(self) -> dict[str, int]:
        """Faults still in force per service (−1 when it cannot be read)."""
        counts: dict[str, int] = {}
        if not self._token:
            return counts
        for service, url in self.urls.items():
            if service in self.unreachable:
                counts[service] = -1
                continue
            try:
                response = self._http.get(f"{url}/admin/faults")
                counts[service] = len(response.json().get("faults", [])) if response.status_code == 200 else -1
            except (httpx.HTTPError, ValueError):
                counts[service] = -1
        return counts
