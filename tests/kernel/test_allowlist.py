import pytest

from kernel.allowlist import Allowlist, is_loopback_host
from kernel.errors import TargetNotAllowed


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"])
def test_loopback_is_always_allowed(host):
    assert is_loopback_host(host)
    assert Allowlist().allows(host)


@pytest.mark.parametrize("url", ["http://10.0.0.5:8701", "https://dichvucong.gov.vn/", "http://192.168.1.1", "http://example.com"])
def test_everything_else_is_refused_by_default_with_the_fix_in_the_message(url):
    with pytest.raises(TargetNotAllowed, match="--allow-host"):
        Allowlist().check_url(url)


def test_explicitly_added_hosts_are_allowed_and_only_those():
    allow = Allowlist(["staging.example.vn"])
    assert allow.check_url("https://staging.example.vn/api") == "https://staging.example.vn/api"
    with pytest.raises(TargetNotAllowed):
        allow.check_url("https://prod.example.vn/api")


def test_non_http_urls_are_refused():
    with pytest.raises(TargetNotAllowed, match="not an http"):
        Allowlist().check_url("file:///etc/passwd")
