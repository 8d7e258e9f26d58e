"""Turn the sandbox's ``endpoints.json`` into ``SFNS_*`` settings, so sandbox and production share one code path.

The pipeline reads only this file, never the sandbox package: pointing it at real systems means
setting the same variables by hand (see README, "Point it at real systems").
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def sandbox_environment(endpoints_file: Path) -> dict[str, str]:
    """``SFNS_*`` variables describing the running sandboxes (URLs, CA file, sandbox credentials)."""
    endpoints = json.loads(Path(endpoints_file).read_text())
    environment = {"SFNS_TARGET": "sandbox", "SFNS_CA_BUNDLE": endpoints["ca_cert"]}
    for section, mapping in _SECTIONS.items():
        values = endpoints.get(section) or {}
        for key, variable in mapping.items():
            value = _lookup(values, key)
            if value is not None:
                environment[variable] = str(value)
    return environment


def _lookup(values: dict, dotted_key: str):
    """``values["tba"]["consumer_key"]`` for ``"tba.consumer_key"``; None when any part is missing."""
    for part in dotted_key.split("."):
        if not isinstance(values, dict):
            return None
        values = values.get(part)
    return values


# endpoints.json section -> {key in that section: SFNS_ variable}
_SECTIONS: dict[str, dict[str, str]] = {
    "smtp": {"host": "SFNS_EMAIL_SMTP_HOST", "port": "SFNS_EMAIL_SMTP_PORT"},
    "salesforce": {
        "instance_url": "SFNS_SALESFORCE_INSTANCE_URL",
        "token_url": "SFNS_SALESFORCE_TOKEN_URL",
        "pubsub_target": "SFNS_SALESFORCE_PUBSUB_TARGET",
        "org_id": "SFNS_SALESFORCE_TENANT_ID",
        "api_version": "SFNS_SALESFORCE_API_VERSION",
        "auth_flow": "SFNS_SALESFORCE_AUTH_FLOW",
        "client_credentials.client_id": "SFNS_SALESFORCE_CLIENT_ID",
        "client_credentials.client_secret": "SFNS_SALESFORCE_CLIENT_SECRET",
        "jwt_bearer.username": "SFNS_SALESFORCE_USERNAME",  # so SFNS_SALESFORCE_AUTH_FLOW=jwt_bearer also works
        "jwt_bearer.private_key_file": "SFNS_SALESFORCE_PRIVATE_KEY_FILE",
    },
    "netsuite": {
        "account_id": "SFNS_NETSUITE_ACCOUNT_ID",
        "rest_url": "SFNS_NETSUITE_REST_URL",
        "soap_url": "SFNS_NETSUITE_SOAP_URL",
        "version": "SFNS_NETSUITE_VERSION",
        "time_zone": "SFNS_NETSUITE_TIME_ZONE",
        "auth": "SFNS_NETSUITE_AUTH",
        "tba.consumer_key": "SFNS_NETSUITE_CONSUMER_KEY",
        "tba.consumer_secret": "SFNS_NETSUITE_CONSUMER_SECRET",
        "tba.token_id": "SFNS_NETSUITE_TOKEN_ID",
        "tba.token_secret": "SFNS_NETSUITE_TOKEN_SECRET",
        "oauth2.client_id": "SFNS_NETSUITE_CLIENT_ID",
        "oauth2.certificate_id": "SFNS_NETSUITE_CERTIFICATE_ID",
        "oauth2.private_key_file": "SFNS_NETSUITE_PRIVATE_KEY_FILE",
    },
}


def apply_sandbox_environment(environ: dict[str, str] | None = None) -> Path | None:
    """With ``SFNS_TARGET=sandbox`` (the default), fill unset ``SFNS_*`` variables from a running sandbox.

    Variables already set win, so one can point a single system elsewhere. Returns the endpoints file
    used, or None (production target, or no sandbox running).
    """
    env = os.environ if environ is None else environ
    if env.get("SFNS_TARGET", "sandbox") != "sandbox":
        return None
    state_dir = Path(env.get("SFNS_STATE_DIR", ".sfns"))
    endpoints_file = Path(env.get("SFNS_SANDBOX_DIR", state_dir / "sandbox")) / "endpoints.json"
    if not endpoints_file.exists():
        return None
    for variable, value in sandbox_environment(endpoints_file).items():
        env.setdefault(variable, value)
    return endpoints_file
