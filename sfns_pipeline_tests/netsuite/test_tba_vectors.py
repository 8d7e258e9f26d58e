"""Oracle's published TBA test vector, from both sides: the pipeline signs it, the sandbox verifies it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sfns_pipeline.netsuite.tba import token_passport
from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend
from sfns_pipeline.sandbox.netsuite.credentials import Credentials
from sfns_pipeline.sandbox.netsuite.governance import Governor
from sfns_pipeline.sandbox.netsuite.soap.auth import LoginRefused, TokenPassport, verify_token_passport
from sfns_pipeline.sandbox.netsuite.soap.endpoint import SoapEndpoint

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2].parent / "shared/reference/netsuite-auth/tba-test-vectors.json").read_text()
)
INPUTS = VECTORS["inputs"]
EXPECTED = VECTORS["soap_token_passport"]["expected_signature_base64"]
TIMESTAMP = int(INPUTS["timestamp"])

DOCUMENTED = TokenPassport(
    account=INPUTS["realm_account_id"],
    consumer_key=INPUTS["consumer_key"],
    token=INPUTS["token_id"],
    nonce=INPUTS["nonce"],
    timestamp=TIMESTAMP,
    signature=EXPECTED,
    algorithm="HMAC-SHA256",
)


def signed(**changes) -> TokenPassport:
    """The documented passport with ``changes``, correctly signed by the pipeline's signer."""
    passport = replace(DOCUMENTED, **changes)
    ours = token_passport(
        passport.account,
        passport.consumer_key,
        INPUTS["consumer_secret"],
        passport.token,
        INPUTS["token_secret"],
        nonce=passport.nonce,
        timestamp=passport.timestamp,
    )
    return replace(passport, signature=ours["signature"]["_value_1"])


def test_the_client_signs_the_documented_passport():
    passport = token_passport(
        INPUTS["realm_account_id"],
        INPUTS["consumer_key"],
        INPUTS["consumer_secret"],
        INPUTS["token_id"],
        INPUTS["token_secret"],
        nonce=INPUTS["nonce"],
        timestamp=TIMESTAMP,
    )

    assert passport["signature"] == {"_value_1": EXPECTED, "algorithm": "HMAC-SHA256"}
    base_string = "&".join(str(passport[k]) for k in ("account", "consumerKey", "token", "nonce", "timestamp"))
    assert base_string == VECTORS["soap_token_passport"]["base_string"]


def test_the_client_uses_the_realm_form_and_fresh_nonces():
    first = token_passport("1234567-sb1", "ck", "cs", "tk", "ts")
    second = token_passport("1234567-sb1", "ck", "cs", "tk", "ts")

    assert first["account"] == "1234567_SB1"
    assert first["nonce"] != second["nonce"] and first["nonce"].isalnum() and len(first["nonce"]) == 20
    assert abs(first["timestamp"] - time.time()) < 60


@pytest.fixture
def clock() -> SandboxClock:
    """The sandbox clock at the vector's timestamp."""
    return SandboxClock(offset_seconds=TIMESTAMP - time.time())


@pytest.fixture
def credentials(tmp_path, clock) -> Credentials:
    tba = {k: INPUTS[k] for k in ("consumer_key", "consumer_secret", "token_id", "token_secret")}
    return Credentials.load_or_create(tmp_path, INPUTS["realm_account_id"], clock=clock, tba=tba)


def test_the_sandbox_accepts_the_documented_passport(credentials, clock):
    verify_token_passport(DOCUMENTED, credentials, clock.now())


@pytest.mark.parametrize(
    "passport",
    [
        replace(DOCUMENTED, signature="x" + EXPECTED[1:]),
        replace(DOCUMENTED, nonce="fjaLirsIcCGVZWzBX0pX"),  # signature no longer matches the base string
        replace(DOCUMENTED, account="123456_SB1"),
        replace(DOCUMENTED, token="0" * 64),
    ],
    ids=["signature", "nonce", "account", "token"],
)
def test_the_sandbox_refuses_a_tampered_passport(credentials, clock, passport):
    with pytest.raises(LoginRefused):
        verify_token_passport(passport, credentials, clock.now())


def test_the_sandbox_refuses_a_reused_nonce(credentials, clock):
    verify_token_passport(DOCUMENTED, credentials, clock.now())

    with pytest.raises(LoginRefused) as refused:
        verify_token_passport(DOCUMENTED, credentials, clock.now())
    assert refused.value.reason == "NonceUsed"


def test_the_sandbox_refuses_hmac_sha1(credentials, clock):
    key = f"{INPUTS['consumer_secret']}&{INPUTS['token_secret']}".encode()
    sha1 = base64.b64encode(
        hmac.new(key, VECTORS["soap_token_passport"]["base_string"].encode(), hashlib.sha1).digest()
    )
    passport = replace(DOCUMENTED, signature=sha1.decode(), algorithm="HMAC-SHA1")

    with pytest.raises(LoginRefused) as refused:
        verify_token_passport(passport, credentials, clock.now())
    assert refused.value.reason == "UnknownAlgorithm"


@pytest.mark.parametrize("skew", [-301, 301])
def test_the_sandbox_refuses_a_timestamp_outside_five_minutes(credentials, clock, skew):
    passport = signed(timestamp=TIMESTAMP + skew)

    with pytest.raises(LoginRefused) as refused:
        verify_token_passport(passport, credentials, clock.now())
    assert refused.value.reason == "InvalidTimestamp"


@pytest.mark.parametrize("skew", [-290, 290])
def test_the_sandbox_accepts_a_timestamp_inside_five_minutes(credentials, clock, skew):
    verify_token_passport(signed(timestamp=TIMESTAMP + skew), credentials, clock.now())


def test_the_soap_endpoint_accepts_the_documented_passport_once(tmp_path, credentials, clock):
    backend = NetSuiteBackend(tmp_path / "netsuite.db", clock=clock)
    endpoint = SoapEndpoint(backend=backend, governor=Governor(5), credentials=credentials, clock=clock)
    soap, msgs, core = (
        "http://schemas.xmlsoap.org/soap/envelope/",
        "urn:messages_2023_2.platform.webservices.netsuite.com",
        "urn:core_2023_2.platform.webservices.netsuite.com",
    )
    envelope = etree.Element(f"{{{soap}}}Envelope", nsmap={"soapenv": soap, "msgs": msgs, "core": core})
    header = etree.SubElement(etree.SubElement(envelope, f"{{{soap}}}Header"), f"{{{msgs}}}tokenPassport")
    fields = {
        "account": DOCUMENTED.account,
        "consumerKey": DOCUMENTED.consumer_key,
        "token": DOCUMENTED.token,
        "nonce": DOCUMENTED.nonce,
        "timestamp": TIMESTAMP,
    }
    for name, value in fields.items():
        etree.SubElement(header, f"{{{core}}}{name}").text = str(value)
    etree.SubElement(header, f"{{{core}}}signature", algorithm="HMAC-SHA256").text = EXPECTED
    get = etree.SubElement(etree.SubElement(envelope, f"{{{soap}}}Body"), f"{{{msgs}}}get")
    base_ref = etree.SubElement(get, f"{{{msgs}}}baseRef", internalId="1", type="salesOrder")
    base_ref.set("{http://www.w3.org/2001/XMLSchema-instance}type", "core:RecordRef")
    data = etree.tostring(envelope)

    def post() -> etree._Element:
        environ = EnvironBuilder(method="POST", path="/services/NetSuitePort_2023_2", data=data).get_environ()
        return etree.fromstring(endpoint.handle(Request(environ)).get_data())

    first, second = post(), post()

    assert first.find(f".//{{{msgs}}}readResponse") is not None  # authenticated (the order itself is absent)
    assert second.findtext(f".//{{{soap}}}Fault/faultstring") == "Invalid login attempt."
