"""Fixtures shared by the flow tests."""

import pytest

from sfns_pipeline_tests.flows.example_flow import mail_sink


@pytest.fixture
def sink(tmp_path):
    """A running SMTP sink (the sandbox's) whose mailbox a test can read."""
    with mail_sink(tmp_path / "sandbox") as sandbox:
        yield sandbox
