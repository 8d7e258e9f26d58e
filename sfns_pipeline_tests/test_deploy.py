"""Both instance files (local and production) are valid Dagster instance configuration."""

from pathlib import Path

import pytest
from dagster._core.instance.config import dagster_instance_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("folder", [ROOT, ROOT / "deploy"])
def test_instance_config_is_valid(folder, monkeypatch):
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "placeholder")
    config, _ = dagster_instance_config(str(folder))
    assert config["telemetry"] == {"enabled": False}
    assert "pools" in config["concurrency"]


def test_production_uses_postgres_with_secrets_from_the_environment():
    text = (ROOT / "deploy" / "dagster.yaml").read_text()
    assert "postgres:" in text
    assert "password: {env: DAGSTER_PG_PASSWORD}" in text
