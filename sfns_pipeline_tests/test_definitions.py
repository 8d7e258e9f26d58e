"""The code location loads with every flow wired: a broken import or a missing resource never lands."""

import dagster as dg

from sfns_pipeline.definitions import defs


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)  # also checks every required resource is bound


def test_every_flow_is_wired():
    repository = defs.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {"customer_sync", "invoice_sync", "refund_sync", "replay_dead_letters"} <= jobs
    sensors = {sensor.name for sensor in repository.sensor_defs}
    assert sensors == {
        "customer_sync_event_sensor",
        "invoice_sync_watermark_sensor",
        "refund_sync_watermark_sensor",
        "email_on_run_failure",
    }
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} >= {"salesforce_invoices", "salesforce_refunds"}
    assert {check.name for check in graph.asset_check_keys} == {"invoices_reconciled", "refunds_reconciled"}


def test_flow_sensors_start_running_and_flow_jobs_carry_their_flow_tag():
    repository = defs.get_repository_def()
    for sensor in repository.sensor_defs:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, sensor.name
    for name in ("customer_sync", "invoice_sync", "refund_sync"):
        assert defs.resolve_job_def(name).tags.get("sfns/flow") == name
