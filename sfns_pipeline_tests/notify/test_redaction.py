"""Secrets are scrubbed by value and by shape before anything leaves a run."""

import pytest

from sfns_pipeline.notify.redaction import REDACTED, Redactor, environment_secrets
from sfns_pipeline.outcomes import RecordOutcome


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer 00D5g000004!AQ4AQFa.kEy", "00D5g000004!AQ4AQFa.kEy"),
        ('OAuth realm="123",oauth_token="tok-1",oauth_signature="c2lnbmF0dXJl%3D"', "c2lnbmF0dXJl%3D"),
        ('OAuth realm="123",oauth_consumer_key="ck-secret-1"', "ck-secret-1"),
        ("login failed for user=sfns password=Tr0ub4dor&x=1", "Tr0ub4dor"),
        ('{"client_secret": "cs-9f8e7d", "name": "Acme"}', "cs-9f8e7d"),
        ("grant_type=client_credentials&client_secret=abc123def", "abc123def"),
        ("assertion eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln failed", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
        ("key -----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY----- loaded", "MIIEvQ"),
    ],
)
def test_secret_shapes_are_scrubbed(text, secret):
    scrubbed = Redactor().text(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_ordinary_messages_are_left_alone():
    text = "INVALID_CROSS_REFERENCE_KEY: Account 001A not found; token expired: try again"
    assert Redactor().text(text) == text


def test_known_values_are_scrubbed_anywhere_also_url_encoded():
    redactor = Redactor(["p@ss word/1", "abc"])  # too short to be a secret: left alone
    assert redactor.text("sent p@ss word/1 and p%40ss%20word%2F1 abc") == f"sent {REDACTED} and {REDACTED} abc"


def test_secret_environment_variables_are_known(monkeypatch):
    monkeypatch.setenv("SFNS_NETSUITE_TOKEN_SECRET", "tok-secret-xyz")
    monkeypatch.setenv("SFNS_SALESFORCE_PRIVATE_KEY_FILE", "/etc/sfns/key.pem")  # a path, not a secret
    secrets = environment_secrets()
    assert "tok-secret-xyz" in secrets
    assert "/etc/sfns/key.pem" not in secrets


def test_failed_outcome_is_scrubbed_in_message_code_and_payload():
    outcome = RecordOutcome.failure(
        "Payment",
        "a0X1",
        error_code="INVALID_SESSION_ID",
        message="rejected: Bearer s3ss10n-t0k3n",
        retryable=True,
        payload={"id": "a0X1", "headers": {"Authorization": "Bearer s3ss10n-t0k3n"}, "api_key": "k-1", "n": [1, "x"]},
    )
    scrubbed = Redactor().outcome(outcome)
    assert "s3ss10n-t0k3n" not in scrubbed.message
    assert scrubbed.payload == {
        "id": "a0X1",
        "headers": {"Authorization": REDACTED},
        "api_key": REDACTED,
        "n": [1, "x"],
    }
    assert (scrubbed.source_id, scrubbed.error_code) == ("a0X1", "INVALID_SESSION_ID")
