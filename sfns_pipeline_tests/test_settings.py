"""Settings: defaults from DESIGN.md, and bad values fail at start-up naming the variable."""

import pytest

from sfns_pipeline.settings import SettingsError, Target, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    import os

    for name in list(os.environ):
        if name.startswith("SFNS_"):
            monkeypatch.delenv(name)


def test_defaults_describe_the_expected_org():
    settings = load_settings()
    assert settings.target is Target.SANDBOX
    assert settings.netsuite.version == "2023_2"
    assert settings.fields.account_netsuite_id == "NetSuite_Customer_Id__c"
    assert settings.invoice_sync.page_size == 50
    assert settings.invoice_sync.overlap_minutes == 2
    assert settings.customer_sync.topic == "/event/AccountsEvent__e"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SFNS_INVOICE_SYNC_PAGE_SIZE", "fifty", "SFNS_INVOICE_SYNC_PAGE_SIZE: Input should be a valid integer"),
        ("SFNS_INVOICE_SYNC_PAGE_SIZE", "5000", "SFNS_INVOICE_SYNC_PAGE_SIZE: Input should be less than or equal"),
        ("SFNS_NETSUITE_VERSION", "2023.2", "SFNS_NETSUITE_VERSION: String should match pattern"),
        ("SFNS_TARGET", "prod", "SFNS_TARGET: Input should be 'sandbox' or 'production'"),
        ("SFNS_FIELD_ACCOUNT_NETSUITE_ID", "Bad Name; DROP", "not a valid field API name"),
        ("SFNS_FIELD_RECORD_ORDER", "Order__r", "SFNS_FIELD_RECORD_ORDER: .*not a custom lookup field"),
        ("SFNS_NETSUITE_ACCOUNT_ID", "12 34", "SFNS_NETSUITE_ACCOUNT_ID"),
        ("SFNS_CUSTOMER_SYNC_PAYMENT_TERMS", "Net 30=2", "SFNS_CUSTOMER_SYNC_PAYMENT_TERMS: not valid JSON"),
        ("SFNS_SALESFORCE_TOKEN_URL", "http://acme.my.salesforce.com", "SFNS_SALESFORCE_TOKEN_URL: .*https://"),
        ("SFNS_NETSUITE_REST_URL", "http://1234567.suitetalk.api.netsuite.com", "SFNS_NETSUITE_REST_URL"),
    ],
)
def test_bad_setting_names_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_field_names_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SFNS_FIELD_RECORD_TOTAL", "Gross_Amount__c")
    monkeypatch.setenv("SFNS_FIELD_ACCOUNT_DUNS", "DnB_Number__c")
    fields = load_settings().fields
    assert (fields.record_total, fields.account_duns) == ("Gross_Amount__c", "DnB_Number__c")
    assert fields.record_status == "Status__c"  # the rest keep their DESIGN.md §5 defaults


def test_production_without_credentials_lists_what_is_missing(monkeypatch):
    monkeypatch.setenv("SFNS_TARGET", "production")
    monkeypatch.setenv("SFNS_SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    text = str(excinfo.value)
    assert "SFNS_SALESFORCE_CLIENT_SECRET" in text
    assert "SFNS_NETSUITE_TOKEN_SECRET" in text
    assert "SFNS_SALESFORCE_INSTANCE_URL" not in text


def test_secret_values_are_never_echoed_in_errors(monkeypatch):
    monkeypatch.setenv("SFNS_EMAIL_SMTP_PORT", "not-a-port")
    monkeypatch.setenv("SFNS_EMAIL_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("SFNS_LEDGER_MAX_ATTEMPTS", "0")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "hunter2-secret" not in str(excinfo.value)
    assert "SFNS_EMAIL_SMTP_PORT" in str(excinfo.value)
    assert "SFNS_LEDGER_MAX_ATTEMPTS" in str(excinfo.value)


def test_recipients_accept_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("SFNS_INVOICE_SYNC_RECIPIENTS", "ar@example.com, ops@example.com")
    assert load_settings().invoice_sync.recipients == ["ar@example.com", "ops@example.com"]


def test_cli_reports_bad_settings_without_a_traceback(monkeypatch):
    from typer.testing import CliRunner

    from sfns_pipeline import cli, settings

    settings.get_settings.cache_clear()
    monkeypatch.setenv("SFNS_INVOICE_SYNC_PAGE_SIZE", "many")
    result = CliRunner().invoke(cli.app, ["settings"])
    settings.get_settings.cache_clear()
    assert result.exit_code == 2
    assert "SFNS_INVOICE_SYNC_PAGE_SIZE" in result.output
    assert "Traceback" not in result.output


def test_settings_command_masks_the_ledger_url_and_other_secrets(monkeypatch):
    from typer.testing import CliRunner

    from sfns_pipeline import cli, settings

    monkeypatch.setenv("SFNS_LEDGER_URL", "postgresql://sfns:hunter2-db@db.internal/sfns")
    monkeypatch.setenv("SFNS_SALESFORCE_CLIENT_SECRET", "sf-secret-value")
    settings.get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli.app, ["settings"])
    finally:
        settings.get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "hunter2-db" not in result.output
    assert "sf-secret-value" not in result.output
    assert load_settings().ledger_url == "postgresql://sfns:hunter2-db@db.internal/sfns"
