"""State lives in the data dir: a restarted sandbox keeps records, custom fields and credentials."""

from sfns_pipeline.sandbox.runner import Sandbox
from sfns_pipeline_tests.sandbox.netsuite.conftest import NETSUITE_ONLY, NetSuiteRest


def test_restart_keeps_records_custom_fields_and_credentials(tmp_path):
    with Sandbox(tmp_path, ports={"netsuite": 0}, components=NETSUITE_ONLY) as first:
        client = NetSuiteRest.connect(first)
        subsidiary = client.create("subsidiary", {"name": "Persisted"})
        body = {"companyName": "Kept Co", "subsidiary": {"id": subsidiary}, "custentity_sf_account_id": "001KEEP"}
        customer = client.create("customer", body | {"externalId": "KEEP-1"})
        tba = first.endpoints["netsuite"]["tba"]
    with Sandbox(tmp_path, ports={"netsuite": 0}, components=NETSUITE_ONLY) as second:
        assert second.endpoints["netsuite"]["tba"] == tba
        client = NetSuiteRest.connect(second)
        record = client.get("customer", "eid:KEEP-1")
        assert (record["id"], record["companyName"]) == (customer, "Kept Co")
        query = "SELECT id FROM customer WHERE custentity_sf_account_id = ?"
        assert client.suiteql(query, params=["001KEEP"]).json()["items"][0]["id"] == customer
        assert client.create("subsidiary", {"name": "Next"}) != subsidiary
