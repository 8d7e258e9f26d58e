"""The record-outcome vocabulary flows return: keys, failures from exceptions, counts."""

import pytest

from sfns_pipeline.outcomes import Flow, Outcome, RecordOutcome, System, count_outcomes


class LockedRow(Exception):
    error_code = "UNABLE_TO_LOCK_ROW"
    retryable = True


class InvalidField(Exception):
    error_code = "INVALID_FIELD"
    retryable = False


def test_flow_names_its_systems():
    invoices = Flow("invoice_sync", source=System.NETSUITE)
    assert (invoices.title, invoices.target) == ("invoice sync", System.SALESFORCE)
    assert Flow("customer_sync", source=System.SALESFORCE).target is System.NETSUITE


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (LockedRow("row locked"), "UNABLE_TO_LOCK_ROW", True),
        (InvalidField("no such field"), "INVALID_FIELD", False),
        (KeyError("Amount__c"), "KeyError", True),  # an unexpected error: reported by class, retried
    ],
)
def test_failure_from_exception_keeps_what_the_error_knows(error, code, retryable):
    outcome = RecordOutcome.from_exception("Payment", "a0X1", error, payload={"id": "a0X1"})
    assert outcome.failed
    assert (outcome.error_code, outcome.retryable, outcome.payload) == (code, retryable, {"id": "a0X1"})
    assert outcome.message


def test_key_includes_the_record_type():
    # Two record types of one flow may share a numeric id (a NetSuite refund and credit memo): distinct keys.
    assert RecordOutcome.created("CustRfnd", "77").key != RecordOutcome.created("CustCred", "77").key


def test_counts_list_every_outcome():
    outcomes = [
        RecordOutcome.created("Account", "1", "n1"),
        RecordOutcome.created("Account", "2", "n2"),
        RecordOutcome.unchanged("Account", "3", "n3"),
        RecordOutcome.failure("Account", "4", error_code="X", message="m", retryable=True),
    ]
    assert count_outcomes(outcomes) == {
        Outcome.CREATED: 2,
        Outcome.UPDATED: 0,
        Outcome.UNCHANGED: 1,
        Outcome.SKIPPED: 0,
        Outcome.FAILED: 1,
    }
