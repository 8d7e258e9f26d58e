"""Salesforce ids: the case-safe suffix and the 15/18-character forms."""

import pytest

from sfns_pipeline.sandbox.salesforce.ids import case_safe_suffix, make_id, normalize_id


def test_case_safe_suffix_of_a_published_example():
    assert case_safe_suffix("001A0000006Vm9r") == "IAC"  # 001A0000006Vm9r <-> 001A0000006Vm9rIAC


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
        ("001A0000006Vm9rIAC", "001A0000006Vm9rIAC"),
        ("001a0000006vm9riac", "001A0000006Vm9rIAC"),  # the suffix restores the case
        ("001A0000006Vm9rAAA", "001a0000006vm9rAAA"),  # 18 characters are case-insensitive: AAA means lower case
        ("0010000000000005AA", None),  # the suffix marks digits as upper case: not an id
        ("not an id", None),
        ("001A0000006Vm9", None),
    ],
)
def test_normalize_id(given, expected):
    assert normalize_id(given) == expected


def test_made_ids_are_unique_and_valid():
    ids = {make_id("801", n) for n in range(1, 5000)}
    assert len(ids) == 4999
    assert all(normalize_id(i) == i and i.startswith("801") for i in ids)
