import random
import statistics

import pytest
from pydantic import ValidationError

from kernel.fault_api import LatencySpec
from mocks.core.faults import FAULT_STATUSES, FaultRegistry, FaultRule


def test_latency_distributions_sample_what_they_promise():
    rng = random.Random(1)
    assert LatencySpec(ms=100).sample_s(rng) == pytest.approx(0.1)
    uniform = [LatencySpec(distribution="uniform", min_ms=10, max_ms=20).sample_s(rng) for _ in range(2000)]
    assert min(uniform) >= 0.010 and max(uniform) <= 0.020
    lognormal = [LatencySpec(distribution="lognormal", median_ms=50, sigma=0.5).sample_s(rng) for _ in range(4000)]
    assert statistics.median(lognormal) == pytest.approx(0.05, rel=0.08)


def test_rules_match_route_template_method_and_scope():
    reg = FaultRegistry(seed=0)
    reg.add(FaultRule(id="a", kind="error", route="/dossiers", method="POST"))
    reg.add(FaultRule(id="b", kind="error", route="*", province="01"))
    assert [r.id for r in reg.pick("/dossiers", "POST", scoped=False)] == ["a"]
    assert reg.pick("/dossiers", "GET", scoped=False) == []
    assert [r.id for r in reg.pick("/procedures", "GET", "01", scoped=True)] == ["b"]
    assert reg.pick("/procedures", "GET", "79", scoped=True) == []


def test_rate_fires_about_that_share_deterministically():
    fired = []
    for _ in range(2):
        reg = FaultRegistry(seed=5)
        reg.add(FaultRule(kind="error", rate=0.25))
        fired.append(sum(bool(reg.pick("/x", "GET", scoped=False)) for _ in range(4000)))
    assert fired[0] == fired[1]
    assert 900 < fired[0] < 1100


def test_expiring_and_clearing():
    reg = FaultRegistry()
    rule = reg.add(FaultRule(id="short", kind="outage", duration_s=5))
    assert reg.active() == [rule]
    rule_old = FaultRule(id="old", kind="outage", duration_s=5, created_at=0)
    reg.add(rule_old)
    assert [r.id for r in reg.active()] == ["short"]
    assert reg.clear() == 1 and reg.active() == []


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "latency"},  # latency spec missing
        {"kind": "explode"},
        {"kind": "error", "status": 200},
        {"kind": "error", "rate": 1.5},
        {"kind": "error", "province": "Hà Nội"},
        {"kind": "error", "id": "../../etc"},
        {"kind": "error", "surprise": True},
    ],
)
def test_invalid_rules_are_refused(body):
    with pytest.raises(ValidationError):
        FaultRule.model_validate(body)


def test_the_mocks_and_the_drills_validate_latency_with_one_model() -> None:
    """A drill file's HTTP fault is exactly a body the mocks' admin API accepts (kernel.fault_api)."""
    from drills.model import HttpFault

    rule = FaultRule.model_validate({"kind": "latency", "latency": {"distribution": "uniform", "min_ms": 5, "max_ms": 9}})
    drill = HttpFault.model_validate({"kind": "latency", "latency": {"distribution": "uniform", "min_ms": 5, "max_ms": 9}})
    assert type(rule.latency) is type(drill.latency) is LatencySpec
    for bad in ({"distribution": "uniform", "min_ms": 9, "max_ms": 5}, {"ms": 1, "jitter": 2}):
        with pytest.raises(ValueError):
            FaultRule.model_validate({"kind": "latency", "latency": bad})
        with pytest.raises(ValueError):
            HttpFault.model_validate({"kind": "latency", "latency": bad})


def _admin_app(tmp_path):
    import httpx

    from mocks.core.app import build_service_app
    from mocks.core.settings import ServiceSettings

    app = build_service_app("probe", ServiceSettings(data_dir=tmp_path, admin_token="t0ken"), [], lambda: {"counts": {}})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe",
                             headers={"authorization": "Bearer t0ken"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "outage", "created_at": 0}, "created_at"),  # the server stamps the time, not the client
        ({"kind": "error", "status": 449}, "status"),  # in 400..599 but no HTTP status
        ({"kind": "error", "status": 599}, "status"),
        ({"kind": "error", "status": 302}, "status"),
        ({"kind": "error", "route": ""}, "route"),
        ({"kind": "error", "route": "dossiers"}, "route"),  # a template starts with "/" (or is "*")
        # A rule that could never fire: a route the service does not serve, a method it lacks.
        ({"kind": "outage", "route": "/dossiers/{id}"}, "route"),
        ({"kind": "outage", "route": "/healthz.*"}, "route"),
        ({"kind": "outage", "route": "/healthz", "method": "DELETE"}, "method"),
        ({"kind": "error", "agency": ""}, "agency"),
        ({"kind": "latency"}, "latency"),
        ({"kind": "body"}, "body"),
        ({"kind": "body", "body": "{}", "province": "01"}, "body"),
    ],
)
def test_the_admin_api_refuses_bad_fault_input_naming_the_field(tmp_path, body, field):
    import asyncio

    async def post():
        async with _admin_app(tmp_path) as client:
            return await client.post("/admin/faults", json=body)

    reply = asyncio.run(post())
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == field, reply.text


def test_an_accepted_fault_is_stamped_by_the_server_and_real_statuses_pass(tmp_path):
    import asyncio
    import time

    async def post():
        async with _admin_app(tmp_path) as client:
            return [await client.post("/admin/faults", json={"kind": "error", "status": s, "route": "/healthz"})
                    for s in (429, 451, 511)]

    before = time.time()
    replies = asyncio.run(post())
    assert [r.status_code for r in replies] == [201, 201, 201]
    assert all(before <= r.json()["created_at"] <= time.time() for r in replies)
    assert 449 not in FAULT_STATUSES and 599 not in FAULT_STATUSES and {400, 429, 500, 503} <= set(FAULT_STATUSES)


def test_a_body_fault_replaces_the_answer_with_its_body_type_and_padding():
    import asyncio

    from mocks.core.faults import ReplacedAnswer, apply_rules

    rule = FaultRule(kind="body", route="/citizens/verify-batch", body='{"results": [{"match": "true"}]}',
                     content_type="text/html; charset=utf-8", pad_bytes=5)
    with pytest.raises(ReplacedAnswer) as caught:
        asyncio.run(apply_rules([rule], random.Random(0)))
    answer = caught.value.response
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.body == b'{"results": [{"match": "true"}]}     '


@pytest.mark.parametrize(
    ("body", "message"),
    [({"kind": "body"}, "required when kind is 'body'"),
     ({"kind": "body", "body": "{}", "province": "01"}, "cannot be scoped"),
     ({"kind": "body", "body": "{}", "content_type": "text/html\r\nX-Injected: 1"}, "content_type"),
     ({"kind": "body", "body": "{}", "pad_bytes": 17 * 1024 * 1024}, "pad_bytes"),
     ({"kind": "body", "body": "x" * 70_000}, "body")],
)  # fmt: skip
def test_body_faults_are_validated_like_the_others(body, message):
    with pytest.raises(ValidationError, match=message):
        FaultRule(**body)


@pytest.mark.parametrize("body", [
    {"kind": "body"}, {"kind": "body", "body": "{}"}, {"kind": "body", "body": "{}", "province": "01"},
    {"kind": "body", "body": "{}", "agency": "H26"}, {"kind": "latency"}, {"kind": "latency", "latency": {"ms": 5}},
    {"kind": "error", "status": 503}, {"kind": "outage", "route": "/dossiers"},
])  # fmt: skip
def test_the_published_fault_schema_accepts_exactly_what_the_admin_api_accepts(body):
    # POST /admin/faults is kept out of the live contract fuzz (a fuzzed reset would break
    # every later case), so its schema and its validation are held together here.
    import jsonschema

    from mocks.core.faults import FaultRequest

    published = jsonschema.Draft202012Validator(FaultRequest.model_json_schema()).is_valid(body)
    try:
        FaultRequest.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert published == accepted, body
