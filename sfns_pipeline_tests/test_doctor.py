"""`sfns doctor` against the running sandboxes: every system answers, and a bad credential is named."""

import pytest
from typer.testing import CliRunner

from sfns_pipeline import cli, settings
from sfns_pipeline.doctor import run_checks
from sfns_pipeline.sandbox_profile import sandbox_environment
from sfns_pipeline.settings import load_settings


@pytest.fixture
def sandbox_env(sandbox, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name, value in sandbox_environment(sandbox.endpoints_file).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SFNS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()


def test_every_system_answers(sandbox_env):
    results = run_checks(load_settings())
    assert [(r.name, r.ok) for r in results] == [
        ("Salesforce REST", True),
        ("Salesforce Pub/Sub", True),
        ("NetSuite REST", True),
        ("dead-letter ledger", True),
        ("SMTP", True),
    ], results


def test_bad_salesforce_secret_fails_only_salesforce_checks_without_leaking_it(sandbox_env, monkeypatch):
    monkeypatch.setenv("SFNS_SALESFORCE_CLIENT_SECRET", "not-the-secret-0xdeadbeef")
    settings.get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["doctor"])
    finally:
        settings.get_settings.cache_clear()
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "not-the-secret-0xdeadbeef" not in result.output
    failed = {r.name for r in run_checks(load_settings()) if not r.ok}
    assert failed == {"Salesforce REST", "Salesforce Pub/Sub"}
