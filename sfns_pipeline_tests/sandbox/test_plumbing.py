"""Shared sandbox plumbing: TLS that clients verify, faults on demand, the admin API, the clock."""

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
import requests
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.faults import FaultInjector
from sfns_pipeline.sandbox.http import HttpService, json_response
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline.sandbox.tls import SandboxTLS


class EchoService(HttpService):
    name = "echo"
    routes = [Rule("/echo/<word>", methods=["GET"], endpoint="echo")]

    def echo(self, request, word):
        return json_response({"word": word})

    def render_fault(self, kind, request):
        return Response(json.dumps([{"errorCode": kind}]), status=503, content_type="application/json")


@pytest.fixture
def echo(tmp_path):
    tls = SandboxTLS.load_or_create(tmp_path)
    service = EchoService(clock=SandboxClock(), faults=FaultInjector())
    service.start("127.0.0.1", 0, tls)
    session = make_session(tls.ca_cert)
    yield service, session
    service.stop()


def test_https_is_verified_against_the_sandbox_ca(echo):
    service, session = echo
    assert session.get(f"{service.base_url}/echo/hello").json() == {"word": "hello"}
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{service.base_url}/echo/hello", timeout=5)  # the system store does not know the sandbox CA


def test_counted_fault_hits_exactly_n_requests(echo):
    service, session = echo
    session.post(f"{service.base_url}/__sandbox__/faults", json={"service": "echo", "kind": "LOCKED", "count": 2})
    statuses = [session.get(f"{service.base_url}/echo/x").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert session.get(f"{service.base_url}/__sandbox__/faults").json()[0]["hits"] == 2


def test_fault_only_matches_its_path(echo):
    service, session = echo
    service.faults.add({"service": "echo", "kind": "LOCKED", "path": "/echo/locked$"})
    assert session.get(f"{service.base_url}/echo/locked").status_code == 503
    assert session.get(f"{service.base_url}/echo/open").status_code == 200
    session.delete(f"{service.base_url}/__sandbox__/faults")
    assert session.get(f"{service.base_url}/echo/locked").status_code == 200


def test_dropped_connection_is_a_connection_error(echo):
    service, session = echo
    service.faults.add({"service": "echo", "kind": "drop", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{service.base_url}/echo/x", timeout=5)
    assert session.get(f"{service.base_url}/echo/x").status_code == 200


@pytest.mark.parametrize(
    "rule",
    [{"service": "echo", "rate": 7}, {"service": "echo", "kind": "503", "path": "(unclosed"}],
)
def test_invalid_fault_rule_is_refused(echo, rule):
    service, session = echo
    assert session.post(f"{service.base_url}/__sandbox__/faults", json=rule).status_code == 400
    assert service.faults.rules() == []


def test_clock_without_an_offset_is_a_client_error(echo):
    service, session = echo
    assert session.post(f"{service.base_url}/__sandbox__/clock", json={"offset": 5}).status_code == 400


def test_wrong_method_is_405_naming_the_allowed_ones(echo):
    service, session = echo
    response = session.delete(f"{service.base_url}/echo/x")
    assert response.status_code == 405
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"]


def test_clock_can_be_skewed(echo):
    service, session = echo
    body = session.post(f"{service.base_url}/__sandbox__/clock", json={"offset_seconds": 600}).json()
    assert body["offset_seconds"] == 600
    assert service.clock.offset_seconds == 600
    served = parsedate_to_datetime(session.get(f"{service.base_url}/echo/x").headers["Date"]).replace(tzinfo=UTC)
    assert abs((served - datetime.now(UTC)).total_seconds() - 600) < 5


def test_ca_survives_a_restart(tmp_path):
    first = SandboxTLS.load_or_create(tmp_path).ca_cert.read_bytes()
    assert SandboxTLS.load_or_create(tmp_path).ca_cert.read_bytes() == first


def test_sandbox_writes_and_removes_endpoints(tmp_path):
    with Sandbox(tmp_path / "sb", components=[]) as sandbox:
        endpoints = json.loads(sandbox.endpoints_file.read_text())
        assert endpoints["ca_cert"].endswith("ca.pem")
    assert not (tmp_path / "sb" / "endpoints.json").exists()
