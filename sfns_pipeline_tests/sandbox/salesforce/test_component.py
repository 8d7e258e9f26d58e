"""The Salesforce component as users run it: `sfns sandbox up`, endpoints.json, restarts, SFNS_* settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession

from sfns_pipeline.http import make_session
from sfns_pipeline.sandbox_profile import sandbox_environment
from sfns_pipeline_tests.sandbox.salesforce.conftest import integration_client, sales_client, salesforce_sandbox

SFNS = Path(sys.executable).parent / "sfns"


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if process.poll() is not None:
            raise AssertionError(f"sandbox exited early: {process.stderr.read()}")
        time.sleep(0.2)
    raise AssertionError("endpoints.json did not appear")


def test_sfns_sandbox_up_serves_the_org_with_component_options(tmp_path):
    data_dir = tmp_path / "sandbox"
    command = [str(SFNS), "sandbox", "up", "--data-dir", str(data_dir)]
    command += ["--salesforce-port", "0", "--pubsub-port", "0", "--netsuite-port", "0", "--smtp-port", "0"]
    command += ["--salesforce-api-daily-limit", "500", "--salesforce-token-lifetime", "900"]
    command += ["--netsuite-account-id", "7654321_SB2", "--netsuite-concurrency-limit", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    try:
        endpoints = _wait_for(data_dir / "endpoints.json", process)
        ready = process.stdout.readline().strip()
        assert ready.startswith("sandbox ready: ")
        assert Path(ready.removeprefix("sandbox ready: ")).resolve() == (data_dir / "endpoints.json").resolve()
        section = endpoints["salesforce"]
        assert section["org_id"].startswith("00D") and len(section["org_id"]) == 18
        assert Path(section["jwt_bearer"]["private_key_file"]).exists()
        assert (endpoints["netsuite"]["account_id"], endpoints["netsuite"]["concurrency_limit"]) == ("7654321_SB2", 3)
        sf = integration_client(endpoints)
        created = sf.Account.create({"Name": "From a subprocess"})
        assert sf.Account.get(created["id"])["Name"] == "From a subprocess"
        sf.query("SELECT Id FROM User")
        assert sf.api_usage["api-usage"].total == 500  # the allowance option, read back by simple-salesforce
        host, _, port = section["pubsub_target"].rpartition(":")
        assert host and int(port) > 0
        clock_url = f"{section['instance_url']}/__sandbox__/clock"
        make_session(endpoints["ca_cert"]).post(clock_url, json={"offset_seconds": 901}, timeout=10)
        with pytest.raises(SalesforceExpiredSession):  # the 900-second token lifetime option, not the default 2 hours
            sf.query("SELECT Id FROM User")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert not (data_dir / "endpoints.json").exists()


def test_restart_keeps_records_events_and_credentials(tmp_path):
    with salesforce_sandbox(tmp_path / "sb") as first:
        sales = sales_client(first.endpoints)
        account = sales.Account.create({"Name": "Survivor", "NetSuite_Customer_Id__c": "KEEP-1"})["id"]
        replay_id = first.components["salesforce"].bus.last_replay_id
        credentials = first.endpoints["salesforce"]["client_credentials"]
        token = sales.session_id
    with salesforce_sandbox(tmp_path / "sb") as second:
        assert second.endpoints["salesforce"]["client_credentials"] == credentials
        sf = integration_client(second.endpoints)
        assert sf.Account.get_by_custom_id("NetSuite_Customer_Id__c", "KEEP-1")["Id"] == account
        assert second.components["salesforce"].bus.last_replay_id == replay_id
        assert second.components["salesforce"].auth.session(token).actor.username.startswith("sales@")
        assert sf.Account.create({"Name": "After restart"})["id"] != account  # ids keep counting


def test_sandbox_environment_describes_the_org(tmp_path):
    with salesforce_sandbox(tmp_path / "sb") as sandbox:
        environment = sandbox_environment(sandbox.endpoints_file)
        section = sandbox.endpoints["salesforce"]
        assert environment["SFNS_SALESFORCE_INSTANCE_URL"] == section["instance_url"]
        assert environment["SFNS_SALESFORCE_TOKEN_URL"] == section["token_url"]
        assert environment["SFNS_SALESFORCE_PUBSUB_TARGET"] == section["pubsub_target"]
        assert environment["SFNS_SALESFORCE_TENANT_ID"] == section["org_id"]
        assert environment["SFNS_SALESFORCE_API_VERSION"] == "62.0"
        assert environment["SFNS_SALESFORCE_AUTH_FLOW"] == "client_credentials"
        assert environment["SFNS_SALESFORCE_CLIENT_ID"] == section["client_credentials"]["client_id"]
        assert environment["SFNS_SALESFORCE_CLIENT_SECRET"] == section["client_credentials"]["client_secret"]
        assert environment["SFNS_SALESFORCE_USERNAME"] == section["jwt_bearer"]["username"]
        assert environment["SFNS_SALESFORCE_PRIVATE_KEY_FILE"] == section["jwt_bearer"]["private_key_file"]
