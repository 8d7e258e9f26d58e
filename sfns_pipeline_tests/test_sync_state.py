"""The last-synced fingerprint store: per flow, per record, replaced on every successful sync."""

from sfns_pipeline.sync_state import SyncedRecord, open_sync_state


def test_records_are_stored_per_flow_replaced_and_forgotten(tmp_path):
    store = open_sync_state(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.record("customer_sync", [SyncedRecord("001A", "f1", "10"), SyncedRecord("001B", "f2", "11")])
    store.record("order_sync", [SyncedRecord("001A", "other", "99")])  # same key, another flow

    store.record("customer_sync", [SyncedRecord("001A", "f3", "10")])
    store.forget("customer_sync", ["001B"])

    found = store.get("customer_sync", ["001A", "001B", "001C"])
    assert {key: (r.fingerprint, r.target_id) for key, r in found.items()} == {"001A": ("f3", "10")}
    assert found["001A"].synced_at is not None
    assert store.get("order_sync", ["001A"])["001A"].fingerprint == "other"


def test_the_table_lives_beside_the_ledger_and_survives_reopening(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_sync_state(url).record("customer_sync", [SyncedRecord("001A", "f1", "10")])
    open_sync_state.cache_clear()  # a new process
    assert open_sync_state(url).get("customer_sync", ["001A"])["001A"].target_id == "10"
