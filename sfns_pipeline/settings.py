"""Every knob of the integration, read from ``SFNS_*`` environment variables (and an optional ``.env``).

Each concern is its own settings class with its own prefix, so the variable names read naturally
(``SFNS_INVOICE_SYNC_PAGE_SIZE``, ``SFNS_NETSUITE_ACCOUNT_ID``). ``load_settings()`` validates all of
them at start-up and turns pydantic's errors into one message naming each bad variable: a typo in
a deployment should never surface later as a stack trace from deep inside a client.

Secrets are typed ``SecretStr`` here only so that start-up can check they are present; resources read
them at run launch through ``dg.EnvVar`` so their values never reach run config or the UI.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as EnvParseError

ENV_PREFIX = "SFNS_"


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=f"{ENV_PREFIX}{prefix}",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )


class Target(StrEnum):
    """Which systems the pipeline talks to."""

    SANDBOX = "sandbox"  # the local emulators started by `sfns sandbox up`
    PRODUCTION = "production"  # real orgs: every credential must be configured


def _https_only(value: str | None) -> str | None:
    """Credentials travel to these URLs: plain HTTP would send them in clear text."""
    if value is not None and not value.startswith("https://"):
        raise ValueError("must be an https:// URL")
    return value.rstrip("/") if value else value


class SalesforceSettings(BaseSettings):
    """Connection to the Salesforce org (``SFNS_SALESFORCE_*``)."""

    model_config = _config("SALESFORCE_")

    instance_url: str | None = None
    token_url: str | None = None
    api_version: str = Field(default="62.0", pattern=r"^\d{2,3}\.0$")
    auth_flow: Literal["jwt_bearer", "client_credentials"] = "client_credentials"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None  # the integration user, for the JWT bearer flow
    private_key_file: Path | None = None  # PEM key whose certificate is on the connected app
    jwt_audience: str = "https://login.salesforce.com"  # https://test.salesforce.com for sandboxes
    pubsub_target: str | None = None  # host:port of the Pub/Sub API, e.g. api.pubsub.salesforce.com:7443
    tenant_id: str | None = None  # the org id (00D...), sent as Pub/Sub `tenantid`
    timeout_seconds: float = Field(default=30.0, gt=0)

    _https = field_validator("instance_url", "token_url")(_https_only)


class NetSuiteSettings(BaseSettings):
    """Connection to the NetSuite account (``SFNS_NETSUITE_*``)."""

    model_config = _config("NETSUITE_")

    account_id: str | None = None  # e.g. 1234567 or 1234567_SB1
    rest_url: str | None = None  # https://<account>.suitetalk.api.netsuite.com
    soap_url: str | None = None
    version: str = Field(default="2023_2", pattern=r"^20\d\d_[12]$")
    auth: Literal["tba", "oauth2"] = "tba"
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    token_id: str | None = None
    token_secret: SecretStr | None = None
    client_id: str | None = None  # OAuth 2.0 M2M
    certificate_id: str | None = None
    private_key_file: Path | None = None
    order_api: Literal["soap", "rest"] = "soap"  # SOAP ends in 2028.2; REST is the switch
    timeout_seconds: float = Field(default=60.0, gt=0)
    # The account's time zone (Setup > Company > General Preferences): SuiteQL renders datetimes in it.
    time_zone: str = "America/Los_Angeles"

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/New_York)") from None
        return value

    _https = field_validator("rest_url", "soap_url")(_https_only)

    @field_validator("account_id")
    @classmethod
    def _account_id_shape(cls, value: str | None) -> str | None:
        if value is None:
            return value
        normalised = value.strip().upper().replace("-", "_")
        if not normalised.replace("_", "").isalnum():
            raise ValueError("expected an account id like 1234567 or 1234567_SB1")
        return normalised


class FieldNames(BaseSettings):
    """Custom field API names in the orgs (``SFNS_FIELD_*``); defaults are DESIGN.md §5."""

    model_config = _config("FIELD_")

    account_netsuite_id: str = "NetSuite_Customer_Id__c"
    order_netsuite_id: str = "NetSuite_Order_Id__c"
    order_netsuite_number: str = "NetSuite_Order_Number__c"
    sync_status: str = "NetSuite_Sync_Status__c"
    sync_error: str = "NetSuite_Sync_Error__c"
    last_synced: str = "NetSuite_Last_Synced__c"
    invoice_object: str = "NetSuite_Invoice__c"
    refund_object: str = "NetSuite_Refund__c"
    record_netsuite_id: str = "NetSuite_Id__c"
    # Account fields the customer sync maps to NetSuite
    account_payment_terms: str = "Payment_Terms__c"
    account_credit_limit: str = "Credit_Limit__c"
    account_tax_id: str = "Tax_Id__c"
    account_duns: str = "DUNS_Number__c"
    account_shipping_carrier: str = "Shipping_Carrier__c"
    event_account_id: str = "Account_Id__c"  # the AccountsEvent__e field naming the changed Account
    # fields of both NetSuite_Invoice__c and NetSuite_Refund__c; lookups as the field (…__c), read via …__r
    record_account: str = "Account__c"
    record_order: str = "Order__c"
    record_status: str = "Status__c"
    record_currency: str = "Currency__c"
    record_total: str = "Total__c"
    record_amount_remaining: str = "Amount_Remaining__c"
    record_last_modified: str = "NetSuite_Last_Modified__c"
    invoice_date: str = "Invoice_Date__c"
    invoice_due_date: str = "Due_Date__c"
    refund_type: str = "Refund_Type__c"
    refund_date: str = "Refund_Date__c"
    ns_customer_sf_id: str = "custentity_sf_account_id"
    ns_order_sf_id: str = "custbody_sf_order_id"
    ns_line_sf_id: str = "custcol_sf_order_item_id"
    ns_payment_sf_id: str = "custbody_sf_payment_id"

    @model_validator(mode="after")
    def _api_names(self) -> FieldNames:
        for name, value in self:
            if not value.replace("_", "").isalnum():
                raise ValueError(f"{name}: {value!r} is not a valid field API name")
        return self

    @field_validator("record_account", "record_order")
    @classmethod
    def _custom_lookup(cls, value: str) -> str:
        # Linked and read through the lookup's relationship name, which for a custom field is …__r.
        if not value.endswith("__c"):
            raise ValueError(f"{value!r} is not a custom lookup field (…__c)")
        return value


def _csv_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class EmailSettings(BaseSettings):
    """Where error digests go (``SFNS_EMAIL_*``)."""

    model_config = _config("EMAIL_")

    smtp_host: str | None = None  # unset: no email is sent, failures are still in metadata and the ledger
    smtp_port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "sfns-pipeline@localhost"
    recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)
    timeout_seconds: float = Field(default=15.0, gt=0)

    _split_recipients = field_validator("recipients", mode="before")(_csv_list)


class LedgerSettings(BaseSettings):
    """The dead-letter ledger (``SFNS_LEDGER_*``)."""

    model_config = _config("LEDGER_")

    url: SecretStr | None = None  # any SQLAlchemy URL (may hold a password); default: SQLite under the state dir
    max_attempts: int = Field(default=5, ge=1)
    retry_backoff_seconds: float = Field(default=60.0, ge=0)


class PlatformEventFlowSettings(BaseModel):
    """Shared shape of the Platform Event flows (customers, orders, payments)."""

    topic: str
    batch_size: int = Field(default=100, ge=1, le=2000)
    minimum_interval_seconds: int = Field(default=5, ge=1)
    initial_replay: Literal["EARLIEST", "LATEST"] = "EARLIEST"
    receive_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # What the sensor does when its stored replay id has expired (72 h retention) or is corrupted; it
    # always logs and emails. catch_up: resume from EARLIEST and re-read records modified in the gap;
    # earliest: resume from EARLIEST only; stop: skip ticks until an operator resets the cursor.
    on_replay_invalid: Literal["catch_up", "earliest", "stop"] = "catch_up"

    _split_recipients = field_validator("recipients", mode="before")(_csv_list)


# Country names as sales users type them -> ISO 3166 code (extend with SFNS_CUSTOMER_SYNC_COUNTRIES).
_COUNTRY_NAMES = {
    **dict.fromkeys(("United States", "United States of America", "USA", "U.S.A."), "US"),
    **dict.fromkeys(("United Kingdom", "UK", "Great Britain"), "GB"),
    **dict.fromkeys(("Germany", "Deutschland"), "DE"),
    **dict.fromkeys(("Mexico", "México"), "MX"),
    **dict.fromkeys(("Spain", "España"), "ES"),
    **dict.fromkeys(("Austria", "Österreich"), "AT"),
    **{"Canada": "CA", "Ireland": "IE", "France": "FR", "Netherlands": "NL", "Belgium": "BE", "Italy": "IT"},
    **{"Switzerland": "CH", "Sweden": "SE", "Norway": "NO", "Denmark": "DK", "Finland": "FI", "Poland": "PL"},
    **{"Portugal": "PT", "Australia": "AU", "New Zealand": "NZ", "Japan": "JP", "China": "CN", "India": "IN"},
    "Brazil": "BR",
}


class CustomerSyncSettings(PlatformEventFlowSettings, BaseSettings):
    """Flow 1 (``SFNS_CUSTOMER_SYNC_*``)."""

    model_config = _config("CUSTOMER_SYNC_")

    topic: str = "/event/AccountsEvent__e"
    payment_terms: dict[str, str] = Field(
        default_factory=lambda: {"Net 15": "1", "Net 30": "2", "Net 60": "3", "Due on receipt": "4"}
    )
    shipping_carriers: dict[str, str] = Field(
        default_factory=lambda: {"UPS": "ups", "FedEx": "fedex", "USPS": "usps", "DHL": "dhl"}
    )
    subsidiary_id: str = "1"  # NetSuite subsidiary of new customers (OneWorld requires one)
    duns_field: str = "custentity_duns_number"  # NetSuite custom entity field holding the DUNS number
    # Salesforce country text -> ISO code for NetSuite addresses; two-letter codes pass through as they are.
    countries: dict[str, str] = Field(default_factory=lambda: dict(_COUNTRY_NAMES))


class OrderSyncSettings(PlatformEventFlowSettings, BaseSettings):
    """Flow 2 (``SFNS_ORDER_SYNC_*``)."""

    model_config = _config("ORDER_SYNC_")

    topic: str = "/event/Create_NS_Order__e"


class PaymentSyncSettings(PlatformEventFlowSettings, BaseSettings):
    """Flow 4 (``SFNS_PAYMENT_SYNC_*``)."""

    model_config = _config("PAYMENT_SYNC_")

    topic: str = "/event/Payment_and_Refund_Event__e"


DEFAULT_WINDOWS_START = datetime(2026, 1, 1)  # earliest window a backfill can reach unless `start` says otherwise


class WatermarkFlowSettings(BaseModel):
    """Shared shape of the scheduled NetSuite → Salesforce flows (invoices, refunds, ship confirms)."""

    # First window the sensor requests on a fresh install (UTC). Unset: windows exist from
    # DEFAULT_WINDOWS_START and the first run looks back `first_run_lookback_minutes` from NetSuite's
    # clock, so a new install does not queue a run for every quarter hour since January.
    start: datetime | None = None
    first_run_lookback_minutes: int = Field(default=1440, ge=15)
    replay_from: datetime | None = None  # rewinds the watermark once, then is ignored
    page_size: int = Field(default=50, ge=1, le=1000)
    overlap_minutes: int = Field(default=2, ge=0, le=60)
    max_windows_per_tick: int = Field(default=8, ge=1, le=500)
    # A window whose latest run failed is requested again (a new run key) up to `failed_window_retries`
    # times, `failed_window_retry_minutes` x 2^attempt after the failure; after that it needs an operator.
    failed_window_retries: int = Field(default=5, ge=0, le=20)
    failed_window_retry_minutes: float = Field(default=5, ge=0, le=720)
    minimum_interval_seconds: int = Field(default=30, ge=1)
    recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)

    _split_recipients = field_validator("recipients", mode="before")(_csv_list)

    @property
    def windows_start(self) -> datetime:
        """Start of the first 15-minute window that exists (the partitions' start)."""
        return self.start or DEFAULT_WINDOWS_START


class InvoiceSyncSettings(WatermarkFlowSettings, BaseSettings):
    """Flow 3a (``SFNS_INVOICE_SYNC_*``)."""

    model_config = _config("INVOICE_SYNC_")


class RefundSyncSettings(WatermarkFlowSettings, BaseSettings):
    """Flow 3b (``SFNS_REFUND_SYNC_*``)."""

    model_config = _config("REFUND_SYNC_")

    # NetSuite transaction types that land in NetSuite_Refund__c. Default: all three kinds of money going
    # back to a customer — customer refunds, credit memos and cash refunds (SFNS_REFUND_SYNC_TYPES=CustCred,...).
    types: Annotated[list[Literal["CustRfnd", "CustCred", "CashRfnd"]], NoDecode] = Field(
        default_factory=lambda: ["CustRfnd", "CustCred", "CashRfnd"]
    )

    _split_types = field_validator("types", mode="before")(_csv_list)


class ShipConfirmSyncSettings(WatermarkFlowSettings, BaseSettings):
    """Flow 5 (``SFNS_SHIP_CONFIRM_SYNC_*``)."""

    model_config = _config("SHIP_CONFIRM_SYNC_")


SECTIONS: dict[str, type[BaseSettings]] = {
    "salesforce": SalesforceSettings,
    "netsuite": NetSuiteSettings,
    "fields": FieldNames,
    "email": EmailSettings,
    "ledger": LedgerSettings,
    "customer_sync": CustomerSyncSettings,
    "order_sync": OrderSyncSettings,
    "payment_sync": PaymentSyncSettings,
    "invoice_sync": InvoiceSyncSettings,
    "refund_sync": RefundSyncSettings,
    "ship_confirm_sync": ShipConfirmSyncSettings,
}


class Settings(BaseSettings):
    """The whole configuration; build it with :func:`load_settings`."""

    model_config = _config("")

    target: Target = Target.SANDBOX
    state_dir: Path = Path(".sfns")
    sandbox_dir: Path | None = None  # default: <state_dir>/sandbox, where `sfns sandbox up` writes endpoints.json
    ca_bundle: Path | None = None  # PEM bundle to trust in addition to nothing else; sandbox: its local CA
    dagster_base_url: str = "http://localhost:3000"

    salesforce: SalesforceSettings
    netsuite: NetSuiteSettings
    fields: FieldNames
    email: EmailSettings
    ledger: LedgerSettings
    customer_sync: CustomerSyncSettings
    order_sync: OrderSyncSettings
    payment_sync: PaymentSyncSettings
    invoice_sync: InvoiceSyncSettings
    refund_sync: RefundSyncSettings
    ship_confirm_sync: ShipConfirmSyncSettings

    @property
    def sandbox_endpoints_file(self) -> Path:
        """Where `sfns sandbox up` describes the running sandboxes."""
        return (self.sandbox_dir or self.state_dir / "sandbox") / "endpoints.json"

    @property
    def ledger_url(self) -> str:
        """SQLAlchemy URL of the dead-letter ledger."""
        if self.ledger.url is not None:
            return self.ledger.url.get_secret_value()
        return f"sqlite:///{(self.state_dir / 'ledger.db').resolve()}"

    @model_validator(mode="after")
    def _production_needs_credentials(self) -> Settings:
        if self.target is not Target.PRODUCTION:
            return self
        missing = list(_missing_production_credentials(self))
        if missing:
            raise ValueError("target is production but these are not set: " + ", ".join(missing))
        return self


def _missing_production_credentials(settings: Settings):
    sf, ns = settings.salesforce, settings.netsuite
    required = {
        "SFNS_SALESFORCE_INSTANCE_URL": sf.instance_url,
        "SFNS_SALESFORCE_TOKEN_URL": sf.token_url,
        "SFNS_SALESFORCE_CLIENT_ID": sf.client_id,
        "SFNS_NETSUITE_ACCOUNT_ID": ns.account_id,
        "SFNS_NETSUITE_REST_URL": ns.rest_url,
    }
    if sf.auth_flow == "jwt_bearer":
        required |= {"SFNS_SALESFORCE_USERNAME": sf.username, "SFNS_SALESFORCE_PRIVATE_KEY_FILE": sf.private_key_file}
    else:
        required["SFNS_SALESFORCE_CLIENT_SECRET"] = sf.client_secret
    if ns.auth == "tba":
        required |= {
            "SFNS_NETSUITE_CONSUMER_KEY": ns.consumer_key,
            "SFNS_NETSUITE_CONSUMER_SECRET": ns.consumer_secret,
            "SFNS_NETSUITE_TOKEN_ID": ns.token_id,
            "SFNS_NETSUITE_TOKEN_SECRET": ns.token_secret,
        }
    else:
        required |= {
            "SFNS_NETSUITE_CLIENT_ID": ns.client_id,
            "SFNS_NETSUITE_CERTIFICATE_ID": ns.certificate_id,
            "SFNS_NETSUITE_PRIVATE_KEY_FILE": ns.private_key_file,
        }
    return (name for name, value in required.items() if value in (None, ""))


class SettingsError(ValueError):
    """Configuration is invalid; the message names each offending ``SFNS_*`` variable."""


def _variable_name(section: str | None, loc: tuple) -> str:
    prefix = ENV_PREFIX + (SECTIONS[section].model_config["env_prefix"][len(ENV_PREFIX) :] if section else "")
    field = str(loc[0]) if loc else ""
    return (prefix + field).upper()


def _describe(error: dict, variable: str) -> str:
    secret = any(word in variable for word in ("SECRET", "PASSWORD", "TOKEN", "KEY"))
    shown = "" if secret or "input" not in error or error["type"] == "missing" else f" (got {error['input']!r})"
    return f"{variable}: {error['msg']}{shown}"


def load_settings(**overrides) -> Settings:
    """Read and validate every ``SFNS_*`` variable; raise :class:`SettingsError` naming the bad ones."""
    problems: list[str] = []
    sections: dict[str, BaseSettings] = {}
    for section, cls in SECTIONS.items():
        try:
            sections[section] = overrides.pop(section, None) or cls()
        except ValidationError as exc:
            problems += [_describe(err, _variable_name(section, err["loc"])) for err in exc.errors()]
        except EnvParseError as exc:  # a value that should be JSON (a mapping table) is not
            field = re.search(r'field "(\w+)"', str(exc))
            variable = _variable_name(section, (field.group(1),) if field else ())
            problems.append(f'{variable}: not valid JSON (expected e.g. \'{{"Net 30": "2"}}\')')
    if problems:
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(problems))
    try:
        return Settings(**sections, **overrides)
    except ValidationError as exc:
        problems = [
            _describe(err, _variable_name(None, err["loc"])) if err["loc"] else f"SFNS_TARGET: {err['msg']}"
            for err in exc.errors()
        ]
        raise SettingsError("Invalid configuration:\n  " + "\n  ".join(problems)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, validated once."""
    return load_settings()
