"""REST authentication: TBA verified server-side (Oracle's test vector), its failures, and OAuth 2.0 M2M."""

import json
import time
from pathlib import Path

import jwt
import pytest
import requests

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline_tests.sandbox.netsuite.conftest import NETSUITE_ONLY, REFERENCE, tba_auth

VECTORS = json.loads((REFERENCE / "netsuite-auth" / "tba-test-vectors.json").read_text())
INVALID_LOGIN_START = "Invalid login attempt."


def assert_invalid_login(response):
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["title"] == "Unauthorized"
    detail = body["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_LOGIN"
    assert detail["detail"].startswith(INVALID_LOGIN_START)


def test_signed_request_is_accepted(ns, basics):
    assert ns.session.get(ns.record(f"customer/{basics.customer}")).status_code == 200


@pytest.mark.parametrize(
    "override",
    [
        {"client_secret": "0" * 64},  # bad signature
        {"signature_method": "HMAC-SHA1"},  # refused since 2023.1
        {"realm": "1234567-sb1"},  # the host-name form is not the realm
        {"resource_owner_key": "f" * 64},  # unknown token
    ],
    ids=["bad-signature", "hmac-sha1", "realm-case", "unknown-token"],
)
def test_bad_credentials_are_invalid_login(ns, basics, override):
    ns.session.auth = tba_auth(ns.endpoints, **override)
    assert_invalid_login(ns.session.get(ns.record(f"customer/{basics.customer}")))


def test_missing_authorization_is_invalid_login(ns_sandbox, ns, basics):
    anonymous = make_session(ns_sandbox.endpoints["ca_cert"])
    assert_invalid_login(anonymous.get(ns.record(f"customer/{basics.customer}")))


def test_reused_nonce_is_refused(ns, basics):
    signed = ns.session.prepare_request(requests.Request("GET", ns.record(f"customer/{basics.customer}")))
    assert ns.session.send(signed).status_code == 200
    assert_invalid_login(ns.session.send(signed))  # the same nonce and timestamp, replayed


@pytest.mark.parametrize("skew_seconds", [-400, 400])
def test_timestamp_outside_five_minutes_of_the_sandbox_clock_is_refused(ns_sandbox, ns, basics, skew_seconds):
    ns_sandbox.clock.set_offset(skew_seconds)
    assert_invalid_login(ns.session.get(ns.record(f"customer/{basics.customer}")))
    ns_sandbox.clock.set_offset(120)  # within the window
    assert ns.session.get(ns.record(f"customer/{basics.customer}")).status_code == 200


def test_account_named_in_the_host_must_be_this_account(ns, basics):
    wrong = ns.session.get(
        ns.record(f"customer/{basics.customer}"), headers={"Host": "7654321.suitetalk.api.netsuite.com"}
    )
    assert_invalid_login(wrong)


# -- Oracle's documented REST test vector -----------------------------------------------------------
@pytest.fixture
def vector_account(tmp_path):
    """A sandbox whose account, token and clock are those of Oracle's REST TBA example."""
    inputs = VECTORS["inputs"]
    tba = {key: inputs[key] for key in ("consumer_key", "consumer_secret", "token_id", "token_secret")}
    options = {"netsuite": {"account_id": inputs["realm_account_id"], "tba": tba}}
    with Sandbox(tmp_path, ports={"netsuite": 0}, components=NETSUITE_ONLY, options=options) as sandbox:
        sandbox.clock.set_offset(int(inputs["timestamp"]) - time.time())
        yield sandbox


def vector_request(sandbox, path):
    """Send the documented Authorization header as a client of host 123456.suitetalk.api.netsuite.com would."""
    vector = VECTORS["rest_web_services"]
    service = sandbox.components["netsuite"].service
    session = make_session(sandbox.endpoints["ca_cert"])
    headers = {"Authorization": vector["documented_authorization_header"], "Host": "123456.suitetalk.api.netsuite.com"}
    return session.get(f"{service.base_url}{path}", headers=headers)


def test_oracle_rest_vector_is_accepted(vector_account):
    response = vector_request(vector_account, "/services/rest/record/v1/employee/40")
    # Authenticated: the sandbox simply has no employee records, so NetSuite's 404 rather than a 401.
    assert response.status_code == 404, response.text
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"


def test_oracle_rest_vector_on_another_url_is_refused(vector_account):
    assert_invalid_login(vector_request(vector_account, "/services/rest/record/v1/employee/41"))


# -- OAuth 2.0 client credentials -----------------------------------------------------------------
def client_assertion(oauth2, *, algorithm="PS256", key=None, issued=None):
    now = int(issued if issued is not None else time.time())
    claims = {
        "iss": oauth2["client_id"],
        "scope": ["rest_webservices"],
        "aud": oauth2["token_url"],
        "iat": now,
        "exp": now + 300,
    }
    key = key or Path(oauth2["private_key_file"]).read_bytes()
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": oauth2["certificate_id"]})


def request_token(ns_sandbox, assertion):
    oauth2 = ns_sandbox.endpoints["netsuite"]["oauth2"]
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    return make_session(ns_sandbox.endpoints["ca_cert"]).post(oauth2["token_url"], data=form)


@pytest.mark.parametrize("algorithm", ["PS256", "RS256"])
def test_client_credentials_token_is_accepted_as_bearer(ns_sandbox, ns, basics, algorithm):
    response = request_token(
        ns_sandbox, client_assertion(ns_sandbox.endpoints["netsuite"]["oauth2"], algorithm=algorithm)
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "bearer" and int(token["expires_in"]) == 3600
    bearer = make_session(ns_sandbox.endpoints["ca_cert"])
    bearer.headers["Authorization"] = f"Bearer {token['access_token']}"
    assert bearer.get(ns.record(f"customer/{basics.customer}")).status_code == 200
    bearer.headers["Authorization"] = f"Bearer {token['access_token']}x"
    assert_invalid_login(bearer.get(ns.record(f"customer/{basics.customer}")))


def test_assertion_signed_with_another_key_is_refused(ns_sandbox):
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = request_token(ns_sandbox, client_assertion(ns_sandbox.endpoints["netsuite"]["oauth2"], key=stranger))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_expired_assertion_is_refused(ns_sandbox):
    stale = client_assertion(ns_sandbox.endpoints["netsuite"]["oauth2"], issued=time.time() - 3600)
    assert request_token(ns_sandbox, stale).json()["error"] == "invalid_grant"
