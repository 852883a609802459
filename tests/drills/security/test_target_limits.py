"""Reading the target's limits: what a staging system that does not state them gets ("unknown")."""

from __future__ import annotations

import httpx

from drills.security.target_limits import read_target_limits
from kernel.service_limits import LIMITS_PATH


def _clients(handler) -> dict[str, httpx.Client]:
    transport = httpx.MockTransport(handler)
    return {name: httpx.Client(base_url=f"http://{name}.staging.test", transport=transport)
            for name in ("portal", "population", "axis")}


def test_a_target_without_the_route_leaves_every_limit_unknown() -> None:
    seen: list[str] = []

    def staging(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404, json={"error": {"code": "not_found"}})

    found = read_target_limits(_clients(staging), "admin-token")
    assert seen == [LIMITS_PATH] * 3
    assert found.describe() == ("population throttle unknown; portal lockout unknown; token lifetime portal unknown, "
                                "population unknown, axis unknown")
    assert found.sources == dict.fromkeys(("portal", "population", "axis"), f"unknown: {LIMITS_PATH} answered 404")


def test_no_admin_token_asks_nothing_and_says_why() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request without an admin token")

    found = read_target_limits(_clients(never), None)
    assert found.throttle_rate_per_s is None and found.lockout_threshold is None
    assert set(found.sources.values()) == {"unknown: no admin token for this target"}


def test_an_unreadable_answer_is_unknown_not_a_crash() -> None:
    def odd(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("population"):
            return httpx.Response(200, json={"service": "population", "token_ttl_s": 600,
                                             "throttle": {"rate_per_s": 50, "burst": 100}})
        return httpx.Response(200, text="<html>ok</html>")

    found = read_target_limits(_clients(odd), "admin-token")
    assert (found.throttle_rate_per_s, found.throttle_burst) == (50, 100)
    assert found.token_ttl_s == {"portal": None, "population": 600, "axis": None}
    assert found.sources["portal"] == f"unknown: {LIMITS_PATH} answered an unreadable body"
