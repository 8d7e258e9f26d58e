"""OAuth 2.0 against the Salesforce sandbox: the three server-to-server flows, their errors, session expiry."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from sfns_pipeline.http import make_session
from sfns_pipeline_tests.sandbox.salesforce.conftest import MY_DOMAIN, login_session, sales_client


def _org_id_of(sf: Salesforce) -> str:
    """The org a client is logged in to, as the Pub/Sub API's ``tenantid`` needs it."""
    userinfo = sf.session.get(f"https://{sf.sf_instance}/services/oauth2/userinfo", headers=sf.headers)
    return userinfo.json()["organization_id"]


def test_client_credentials_flow_logs_in_the_integration_user(endpoints):
    creds = endpoints["salesforce"]["client_credentials"]
    sf = Salesforce(
        consumer_key=creds["client_id"],
        consumer_secret=creds["client_secret"],
        domain=MY_DOMAIN,
        session=login_session(endpoints),
        version="62.0",
    )
    assert _org_id_of(sf) == endpoints["salesforce"]["org_id"]
    me = sf.query("SELECT Id, Username FROM User WHERE Username = 'integration@sfns-sandbox.example'")
    assert me["totalSize"] == 1


def test_token_response_fields(endpoints):
    sf = endpoints["salesforce"]
    body = (
        make_session(endpoints["ca_cert"])
        .post(sf["token_url"], data={"grant_type": "client_credentials", **sf["client_credentials"]})
        .json()
    )
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sf["instance_url"]
    assert body["id"].split("/")[-2] == sf["org_id"]  # .../id/<orgId>/<userId>
    assert body["id"].split("/")[-1].startswith("005")
    assert body["issued_at"].isdigit() and body["signature"]


def test_password_flow_logs_in_the_sales_user(endpoints):
    sales = sales_client(endpoints)
    userinfo = sales.session.get(f"https://{sales.sf_instance}/services/oauth2/userinfo", headers=sales.headers)
    assert userinfo.json()["preferred_username"] == endpoints["salesforce"]["sales_user"]["username"]
    assert userinfo.json()["organization_id"] == endpoints["salesforce"]["org_id"]


def test_password_flow_logs_in_the_integration_user_with_its_endpoints_credentials(endpoints):
    section = endpoints["salesforce"]
    creds = section["password"]
    sf = Salesforce(
        username=creds["username"],
        password=creds["password"],
        consumer_key=creds["client_id"],
        consumer_secret=creds["client_secret"],
        domain=MY_DOMAIN,
        session=login_session(endpoints),
        version=section["api_version"],
    )
    userinfo = sf.session.get(f"https://{sf.sf_instance}/services/oauth2/userinfo", headers=sf.headers).json()
    assert (userinfo["user_id"], userinfo["organization_id"]) == (section["integration_user_id"], section["org_id"])
    assert creds["username"] == section["jwt_bearer"]["username"]  # the same integration user in every flow


def test_wrong_password_is_an_authentication_failure(endpoints):
    user = endpoints["salesforce"]["sales_user"]
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(
            username=user["username"],
            password="not-the-password",
            consumer_key=user["client_id"],
            consumer_secret=user["client_secret"],
            domain=MY_DOMAIN,
            session=login_session(endpoints),
        )
    assert failure.value.code == "invalid_grant"
    assert failure.value.auth_message == "authentication failure"


def test_unknown_client_and_unsupported_grant(endpoints):
    session, token_url = make_session(endpoints["ca_cert"]), endpoints["salesforce"]["token_url"]
    unknown = session.post(token_url, data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"})
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_client_id")
    creds = endpoints["salesforce"]["client_credentials"]
    wrong_secret = session.post(
        token_url, data={"grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": "nope"}
    )
    assert wrong_secret.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    unsupported = session.post(token_url, data={"grant_type": "authorization_code", "code": "abc"})
    assert unsupported.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


def _jwt_client(endpoints, *, domain="login", private_key=None) -> Salesforce:
    flow = endpoints["salesforce"]["jwt_bearer"]
    key_args = {"privatekey": private_key} if private_key else {"privatekey_file": flow["private_key_file"]}
    return Salesforce(
        username=flow["username"],
        consumer_key=flow["client_id"],
        domain=domain,
        session=login_session(endpoints),
        version="62.0",
        **key_args,
    )


def test_jwt_bearer_flow_with_the_configured_certificate(endpoints):
    sf = _jwt_client(endpoints)
    assert _org_id_of(sf) == endpoints["salesforce"]["org_id"]


def test_jwt_bearer_accepts_the_my_domain_audience(endpoints):
    flow = endpoints["salesforce"]["jwt_bearer"]
    claims = {"iss": flow["client_id"], "sub": flow["username"], "aud": flow["audience"], "exp": time.time() + 120}
    assertion = jwt.encode(claims, Path(flow["private_key_file"]).read_text(), algorithm="RS256")
    response = make_session(endpoints["ca_cert"]).post(
        endpoints["salesforce"]["token_url"], data={"grant_type": flow["grant_type"], "assertion": assertion}
    )
    assert response.status_code == 200 and response.json()["access_token"]


def test_jwt_with_a_bad_audience_is_refused(endpoints):
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        _jwt_client(endpoints, domain=MY_DOMAIN)  # aud=https://sfns-sandbox.my.salesforce.com: not this org
    assert (failure.value.code, failure.value.auth_message) == ("invalid_grant", "audience is invalid")


def test_jwt_signed_with_another_key_is_refused(endpoints):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        _jwt_client(endpoints, private_key=pem)
    assert (failure.value.code, failure.value.auth_message) == ("invalid_grant", "invalid assertion")


def test_expired_jwt_is_refused_by_the_org_clock(sandbox, endpoints):
    sandbox.clock.set_offset(600)  # the org is 10 minutes ahead: simple-salesforce's 3-minute JWT has expired
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        _jwt_client(endpoints)
    assert (failure.value.code, failure.value.auth_message) == ("invalid_grant", "expired authorization code")


def test_expired_session_is_401_and_simple_salesforce_logs_in_again(sandbox, endpoints):
    sales = sales_client(endpoints)
    first_token = sales.session_id
    sandbox.clock.set_offset(3 * 3600)  # beyond the 2-hour session lifetime
    raw = make_session(endpoints["ca_cert"]).get(
        f"{endpoints['salesforce']['instance_url']}/services/data/v62.0/limits",
        headers={"Authorization": f"Bearer {first_token}"},
    )
    assert raw.status_code == 401
    assert raw.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert sales.query("SELECT Id FROM Account LIMIT 1")["done"] is True  # 401 → password flow again → retried
    assert sales.session_id != first_token


def test_unknown_token_is_401(endpoints):
    response = make_session(endpoints["ca_cert"]).get(
        f"{endpoints['salesforce']['instance_url']}/services/data/v62.0/sobjects",
        headers={"Authorization": "Bearer 00Dnot-a-session"},
    )
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_pubsub_authentication_hook(sandbox, endpoints, sf):
    auth = sandbox.components["salesforce"].auth
    org = endpoints["salesforce"]
    assert auth.authenticate(sf.session_id, org["instance_url"], org["org_id"])
    assert not auth.authenticate(sf.session_id, org["instance_url"], "00D000000000000AAA")
    assert not auth.authenticate(sf.session_id, "https://elsewhere.my.salesforce.com", org["org_id"])
    assert not auth.authenticate("00Dbogus", org["instance_url"], org["org_id"])
