"""Network faults through a Toxiproxy-compatible proxy: the drill puts its own proxies in
front of a real HTTP upstream, drives their toxics, rolls back only what it owns and
deletes its proxies at the end (dientap's fault proxy, in-process, on loopback)."""

from __future__ import annotations

import http.server
import socket
from collections.abc import Iterator

import httpx
import pytest

from drills.backends import NetworkFaultBackend
from drills.faultproxy import FaultProxyServer
from drills.model import Fault
from drills.toxiproxy_client import ToxiproxyClient
from kernel.allowlist import Allowlist
from kernel.errors import TargetNotAllowed
from tests.support import loopback_http_server

pytestmark = pytest.mark.e2e


class _Pong(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"pong {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A real HTTP server on a free loopback port that answers ``pong <path>``."""
    with loopback_http_server(_Pong) as url:
        yield url


@pytest.fixture
def backend() -> Iterator[NetworkFaultBackend]:
    """A backend with its own embedded fault proxy (what ``dientap drill`` does by default)."""
    net = NetworkFaultBackend(Allowlist(), run_tag="t3st")
    yield net
    net.close()


@pytest.fixture
def shared_proxy() -> Iterator[FaultProxyServer]:
    """A fault proxy server the drill does not own (stands in for a team's Toxiproxy)."""
    server = FaultProxyServer("127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def _fault(name: str, toxic: str, target: str = "axis", **network: object) -> Fault:
    return Fault.model_validate({"name": name, "backend": "network", "target": target, "at_s": 1, "duration_s": 3,
                                 "network": {"toxic": toxic, **network}})


def _get(url: str) -> httpx.Response:
    with httpx.Client(timeout=5.0) as client:  # a new connection each time: the proxy state applies to it
        return client.get(url)


def test_a_proxy_in_front_of_a_service_keeps_its_path_and_passes_traffic(
    backend: NetworkFaultBackend, upstream: str
) -> None:
    via = backend.plumb("axis", f"{upstream}/v1")
    info = backend.client.get_proxy("dientap-t3st-axis")
    assert via == f"http://127.0.0.1:{info.listen_port}/v1"
    assert info.upstream == upstream.removeprefix("http://") and info.enabled and not info.toxics
    assert backend.proxies == {"axis": "dientap-t3st-axis"}
    assert _get(f"{via}/documents").text == "pong /v1/documents"
    assert backend.leftover() == {"axis": 0}


def test_a_toxic_is_added_with_its_attributes_and_removed_once(backend: NetworkFaultBackend, upstream: str) -> None:
    backend.plumb("axis", upstream)
    fault = _fault("axis slow!", "latency", attributes={"latency": 40, "jitter": 5}, stream="upstream", toxicity=0.5)
    detail = backend.inject(fault)
    assert detail == {"proxy": "dientap-t3st-axis", "toxic": "latency", "stream": "upstream", "toxicity": 0.5,
                      "attr.jitter": 5, "attr.latency": 40}
    (toxic,) = backend.client.toxics("dientap-t3st-axis")
    assert (toxic.name, toxic.type, toxic.attributes) == ("drill-axis-slow", "latency", {"latency": 40, "jitter": 5})
    assert backend.leftover() == {"axis": 1}
    assert backend.remove(fault) == "removed"
    assert backend.remove(fault) == "already gone"
    assert backend.leftover() == {"axis": 0}


def test_down_refuses_connections_until_the_proxy_is_up_again(backend: NetworkFaultBackend, upstream: str) -> None:
    via = backend.plumb("axis", upstream)
    fault = _fault("axis gone", "down")
    assert backend.inject(fault) == {"proxy": "dientap-t3st-axis", "toxic": "down"}
    with pytest.raises(httpx.ConnectError):
        _get(via)
    assert backend.leftover() == {"axis": 1}  # a proxy still down counts as one fault left
    assert backend.remove(fault) == "proxy up"
    assert _get(via).status_code == 200


def test_reset_peer_cuts_the_connection_of_the_client_behind_the_proxy(
    backend: NetworkFaultBackend, upstream: str
) -> None:
    via = backend.plumb("axis", upstream)
    backend.inject(_fault("axis resets", "reset_peer", attributes={"timeout": 0}))
    with pytest.raises(httpx.TransportError):
        _get(via)
    backend.remove(_fault("axis resets", "reset_peer"))
    assert _get(via).status_code == 200


def test_rollback_takes_every_toxic_off_and_every_proxy_up(backend: NetworkFaultBackend, upstream: str) -> None:
    axis = backend.plumb("axis", upstream)
    portal = backend.plumb("portal", upstream)
    backend.inject(_fault("slow", "latency", attributes={"latency": 10}))
    backend.inject(_fault("thin", "bandwidth", attributes={"rate": 1}))
    backend.inject(_fault("portal down", "down", target="portal"))
    assert backend.leftover() == {"axis": 2, "portal": 1}
    assert backend.clear_all() == {"axis": 2, "portal": 0}
    assert backend.leftover() == {"axis": 0, "portal": 0}
    assert _get(axis).status_code == 200 and _get(portal).status_code == 200


def test_a_link_fault_acts_on_the_proxy_between_the_portal_and_the_population(
    backend: NetworkFaultBackend, upstream: str
) -> None:
    via = backend.plumb("portal->population", upstream)
    fault = _fault("identity link cut", "timeout", target="population", client="portal", attributes={"timeout": 0})
    assert fault.proxy_key == "portal->population"
    assert backend.inject(fault)["proxy"] == "dientap-t3st-portal-to-population"
    assert [t.type for t in backend.client.toxics("dientap-t3st-portal-to-population")] == ["timeout"]
    assert backend.leftover() == {"portal->population": 1}
    assert via.startswith("http://127.0.0.1:")


def test_an_external_proxy_server_keeps_what_the_drill_does_not_own(
    shared_proxy: FaultProxyServer, upstream: str
) -> None:
    team = ToxiproxyClient(shared_proxy.api_url)
    team.create_proxy("team-axis", listen="127.0.0.1:0", upstream=upstream.removeprefix("http://"))
    team.add_toxic("team-axis", "latency", {"latency": 5}, name="team-toxic")
    backend = NetworkFaultBackend(Allowlist(), api_url=shared_proxy.api_url, run_tag="ab12")
    backend.plumb("axis", upstream)
    backend.inject(_fault("slow", "latency", attributes={"latency": 10}))
    assert backend.clear_all() == {"axis": 1}
    assert [t.name for t in team.toxics("team-axis")] == ["team-toxic"]  # not the drill's to remove
    backend.close()
    assert sorted(team.proxies()) == ["team-axis"]  # the drill's proxy is deleted, the team's is not
    assert team.get_proxy("team-axis").enabled  # and the shared server still runs
    team.close()


def test_the_embedded_proxy_server_stops_with_the_backend(upstream: str) -> None:
    backend = NetworkFaultBackend(Allowlist(), run_tag="gone")
    via = backend.plumb("axis", upstream)
    api = backend.api_url
    assert _get(f"{api}/proxies").status_code == 200
    backend.close()
    for url in (f"{api}/proxies", via):
        with pytest.raises(httpx.ConnectError):
            _get(url)
    assert backend.proxies == {}


def test_a_proxy_deleted_behind_the_drills_back_is_reported_not_raised(
    backend: NetworkFaultBackend, upstream: str
) -> None:
    backend.plumb("axis", upstream)
    backend.plumb("portal", upstream)
    backend.inject(_fault("slow", "latency", attributes={"latency": 10}))
    backend.client.delete_proxy("dientap-t3st-axis")
    cleared = backend.clear_all()
    assert cleared["portal"] == 0
    assert isinstance(cleared["axis"], str) and cleared["axis"].startswith("ToxiproxyError: ")
    assert "404" in str(cleared["axis"])
    assert backend.leftover() == {"axis": -1, "portal": 0}


def test_only_allowlisted_upstreams_and_proxy_apis_are_used(backend: NetworkFaultBackend) -> None:
    with pytest.raises(TargetNotAllowed, match="axis host 'axis.gov.example' is not on the allowlist"):
        backend.plumb("axis", "http://axis.gov.example:8703")
    assert backend.proxies == {} and backend.client.proxies() == {}
    with pytest.raises(TargetNotAllowed, match="fault proxy API host 'toxiproxy.example' is not on the allowlist"):
        NetworkFaultBackend(Allowlist(), api_url="http://toxiproxy.example:8474")


def test_an_unreachable_proxy_api_leaves_the_leftover_unknown(upstream: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    backend = NetworkFaultBackend(Allowlist(), api_url=closed, run_tag="dead")
    backend.proxies["axis"] = backend.proxy_name("axis")  # as if plumbed before the proxy API died
    try:
        assert backend.leftover() == {"axis": -1}
        assert backend.clear_all() == {"axis": "ConnectError"}
    finally:
        backend.close()
