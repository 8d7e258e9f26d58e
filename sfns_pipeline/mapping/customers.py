"""Account → NetSuite customer: the customer sync's rules as pure functions over pydantic models.

No I/O and no Dagster here: the flow (``sfns_pipeline.flows.customers``) reads Accounts with SOQL,
calls :func:`map_account` for each, and writes the resulting :class:`NetSuiteCustomer` with the REST
record API. Everything a reviewer needs to check *what* goes to NetSuite is in this module.

Rules worth knowing:

- Picklist values (payment terms, shipping carrier) and countries are looked up in tables from the
  settings. An unknown value is a :class:`CustomerMappingError` for that Account — one failed record
  in the run's report, never a crash and never a silently dropped field.
- Text is NFC-normalised, trimmed and cut to NetSuite's field lengths (company name 83 characters,
  address lines 150, ...), so a long Salesforce name cannot make NetSuite reject the record. Identifiers
  (tax id, DUNS) are never truncated: a cut identifier is wrong data, so they are validated instead.
- An empty optional field maps to ``null``, which clears the field in NetSuite: Salesforce owns
  these fields, so a value removed there must disappear here too.
- :meth:`NetSuiteCustomer.fingerprint` hashes everything that is sent. Equal fingerprints mean
  "nothing to write", which is how the flow reports an Account as unchanged and how it ends update loops.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sfns_pipeline.settings import FieldNames

# Bump when the mapping changes what is sent: every Account's fingerprint changes, so the next event
# for each one re-syncs it instead of being reported unchanged.
MAPPING_VERSION = 1

COMPANY_NAME_MAX = 83
ADDRESS_FIELD_MAX = {"addressee": 83, "addr1": 150, "addr2": 150, "addr3": 150, "city": 50, "state": 30, "zip": 36}
DUNS_PATTERN = re.compile(r"^\d{9}$")
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country")


# -- Salesforce side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountFieldNames:
    """The Account fields the customer sync reads and writes back (API names, from ``SFNS_FIELD_*``)."""

    netsuite_id: str
    sync_status: str
    sync_error: str
    last_synced: str
    payment_terms: str
    credit_limit: str
    tax_id: str
    duns: str
    shipping_carrier: str

    @classmethod
    def from_settings(cls, fields: FieldNames) -> AccountFieldNames:
        """The Account's names as the settings give them (their defaults are DESIGN.md §5)."""
        return cls(
            netsuite_id=fields.account_netsuite_id,
            sync_status=fields.sync_status,
            sync_error=fields.sync_error,
            last_synced=fields.last_synced,
            payment_terms=fields.account_payment_terms,
            credit_limit=fields.account_credit_limit,
            tax_id=fields.account_tax_id,
            duns=fields.account_duns,
            shipping_carrier=fields.account_shipping_carrier,
        )

    def soql_fields(self) -> list[str]:
        """Every column one SOQL query must select to map an Account (incl. the parent's NetSuite id)."""
        addresses = [f"{kind}{part}" for kind in ("Billing", "Shipping") for part in ADDRESS_PARTS]
        return [
            "Id",
            "Name",
            "ParentId",
            f"Parent.{self.netsuite_id}",
            self.netsuite_id,
            self.payment_terms,
            self.credit_limit,
            self.tax_id,
            self.duns,
            self.shipping_carrier,
            *addresses,
        ]


class PostalAddress(BaseModel):
    """One Salesforce address (the component fields; the compound field is read-only)."""

    model_config = ConfigDict(frozen=True)

    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @property
    def is_empty(self) -> bool:
        """No component has text once trimmed: such an address is left out of the customer's address book."""
        return not any(_clean(value) for value in self.model_dump().values())


class SalesforceAccount(BaseModel):
    """An Account as the customer sync reads it with SOQL."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    parent_id: str | None = None
    parent_netsuite_id: str | None = None  # the parent Account's NetSuite customer id, when it has one
    netsuite_id: str | None = None
    payment_terms: str | None = None
    credit_limit: Decimal | None = None
    tax_id: str | None = None
    duns: str | None = None
    shipping_carrier: str | None = None
    billing: PostalAddress = Field(default_factory=PostalAddress)
    shipping: PostalAddress = Field(default_factory=PostalAddress)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], names: AccountFieldNames) -> SalesforceAccount:
        """An Account from one SOQL row selected with :meth:`AccountFieldNames.soql_fields`."""
        parent = record.get("Parent") or {}
        return cls(
            id=record["Id"],
            name=record.get("Name") or "",
            parent_id=record.get("ParentId"),
            parent_netsuite_id=parent.get(names.netsuite_id),
            netsuite_id=record.get(names.netsuite_id),
            payment_terms=record.get(names.payment_terms),
            credit_limit=record.get(names.credit_limit),
            tax_id=record.get(names.tax_id),
            duns=record.get(names.duns),
            shipping_carrier=record.get(names.shipping_carrier),
            billing=_address(record, "Billing"),
            shipping=_address(record, "Shipping"),
        )


def _address(record: Mapping[str, Any], kind: str) -> PostalAddress:
    street, city, state, postal_code, country = (record.get(kind + part) for part in ADDRESS_PARTS)
    return PostalAddress(street=street, city=city, state=state, postal_code=postal_code, country=country)


# -- NetSuite side -----------------------------------------------------------------------------------


class NetSuiteAddress(BaseModel):
    """One entry of the customer's ``addressBook`` sublist."""

    model_config = ConfigDict(frozen=True)

    label: str
    default_billing: bool
    default_shipping: bool
    addressee: str | None = None
    addr1: str | None = None
    addr2: str | None = None
    addr3: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None  # ISO 3166 alpha-2

    def rest_body(self) -> dict[str, Any]:
        """The sublist line as the REST record API takes it."""
        address: dict[str, Any] = {
            name: getattr(self, name) for name in ("addressee", "addr1", "addr2", "addr3", "city", "state", "zip")
        }
        address["country"] = {"id": self.country} if self.country else None
        return {
            "label": self.label,
            "defaultBilling": self.default_billing,
            "defaultShipping": self.default_shipping,
            "addressBookAddress": address,
        }


class NetSuiteCustomer(BaseModel):
    """The NetSuite customer an Account maps to (REST field names in :meth:`rest_body`).

    ``parent_account_id`` is the *Salesforce* id of the parent: NetSuite needs the parent's internal
    id, which may only exist once the parent is synced earlier in the same run, so the flow supplies
    it when it writes (:meth:`rest_body`).
    """

    model_config = ConfigDict(frozen=True)

    external_id: str  # the Salesforce Account id: the idempotency key of every create
    company_name: str
    subsidiary_id: str
    terms_id: str | None = None
    credit_limit: float | None = None
    tax_reg_number: str | None = None
    shipping_carrier: str | None = None
    parent_account_id: str | None = None
    addresses: tuple[NetSuiteAddress, ...] = ()
    custom_fields: dict[str, str | None] = Field(default_factory=dict)

    def rest_body(self, parent_netsuite_id: str | None = None) -> dict[str, Any]:
        """The JSON body for ``PUT customer/eid:…`` or ``PATCH customer/<id>``."""
        if self.parent_account_id and not parent_netsuite_id:
            raise ValueError(f"customer {self.external_id} needs its parent's NetSuite id")
        return {
            "externalId": self.external_id,
            "companyName": self.company_name,
            "subsidiary": {"id": self.subsidiary_id},
            "terms": _ref(self.terms_id),
            "creditLimit": self.credit_limit,
            # REST exposes the default tax registration as a plain string (netsuite-facts §3.4).
            "defaultTaxReg": self.tax_reg_number,
            "shippingCarrier": _ref(self.shipping_carrier),
            "parent": _ref(parent_netsuite_id if self.parent_account_id else None),
            "addressBook": {"items": [address.rest_body() for address in self.addresses]},
            **self.custom_fields,
        }

    def fingerprint(self) -> str:
        """A hash of everything sent (with the mapping version): equal means there is nothing to write."""
        content = {"mapping_version": MAPPING_VERSION, **self.model_dump(mode="json")}
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _ref(internal_id: str | None) -> dict[str, str] | None:
    return {"id": internal_id} if internal_id else None


# -- the rules ---------------------------------------------------------------------------------------


class CustomerMappingRules(BaseModel):
    """The lookup tables and NetSuite names the mapping needs (from ``CustomerSyncSettings``)."""

    model_config = ConfigDict(frozen=True)

    subsidiary_id: str
    payment_terms: dict[str, str]  # Salesforce picklist value -> NetSuite term internal id
    shipping_carriers: dict[str, str]  # Salesforce picklist value -> NetSuite shippingCarrier id
    countries: dict[str, str] = Field(default_factory=dict)  # country text -> ISO code
    duns_field: str = "custentity_duns_number"
    sf_account_id_field: str = "custentity_sf_account_id"


@dataclass(frozen=True)
class MappingProblem:
    """One field of one Account that cannot be mapped."""

    code: str
    field: str
    message: str


class CustomerMappingError(ValueError):
    """The Account cannot become a NetSuite customer as it stands: fix the data (retrying will not help)."""

    retryable = False

    def __init__(self, account_id: str, problems: Sequence[MappingProblem]) -> None:
        self.account_id = account_id
        self.problems = tuple(problems)
        self.error_code = problems[0].code
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def map_account(account: SalesforceAccount, rules: CustomerMappingRules, names: AccountFieldNames) -> NetSuiteCustomer:
    """The NetSuite customer for ``account``; raises :class:`CustomerMappingError` listing every bad field."""
    problems: list[MappingProblem] = []

    def lookup(value: str | None, table: Mapping[str, str], field: str, code: str, what: str) -> str | None:
        cleaned = _clean(value)
        if cleaned is None:
            return None
        found = _lookup(cleaned, table)
        if found is None:
            known = ", ".join(sorted(table)) or "none configured"
            problems.append(MappingProblem(code, field, f"{cleaned!r} has no NetSuite {what} (known: {known})"))
        return found

    company_name = _truncate(_clean(account.name), COMPANY_NAME_MAX)
    if company_name is None:
        problems.append(MappingProblem("REQUIRED_FIELD_MISSING", "Name", "an Account needs a name"))
    terms_id = lookup(account.payment_terms, rules.payment_terms, names.payment_terms, "UNMAPPED_PAYMENT_TERMS", "term")
    carrier = lookup(
        account.shipping_carrier,
        rules.shipping_carriers,
        names.shipping_carrier,
        "UNMAPPED_SHIPPING_CARRIER",
        "carrier",
    )
    credit_limit = _credit_limit(account.credit_limit, names.credit_limit, problems)
    duns = _duns(account.duns, names.duns, problems)
    addresses = _address_book(account, rules.countries, company_name, problems)
    if problems:
        raise CustomerMappingError(account.id, problems)
    return NetSuiteCustomer(
        external_id=account.id,
        company_name=company_name,
        subsidiary_id=rules.subsidiary_id,
        terms_id=terms_id,
        credit_limit=credit_limit,
        tax_reg_number=_clean(account.tax_id),
        shipping_carrier=carrier,
        parent_account_id=account.parent_id,
        addresses=addresses,
        custom_fields={rules.duns_field: duns, rules.sf_account_id_field: account.id},
    )


def _credit_limit(value: Decimal | None, field: str, problems: list[MappingProblem]) -> float | None:
    if value is None:
        return None
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or amount < 0:
        problems.append(MappingProblem("INVALID_CREDIT_LIMIT", field, f"{value} is not a credit limit (>= 0)"))
        return None
    return float(amount)


def _duns(value: str | None, field: str, problems: list[MappingProblem]) -> str | None:
    cleaned = _clean(value)
    if cleaned is None:
        return None
    digits = re.sub(r"[\s-]", "", cleaned)
    if not DUNS_PATTERN.match(digits):
        problems.append(MappingProblem("INVALID_DUNS", field, f"{cleaned!r} is not a 9-digit DUNS number"))
        return None
    return digits


def _address_book(
    account: SalesforceAccount, countries: Mapping[str, str], addressee: str | None, problems: list[MappingProblem]
) -> tuple[NetSuiteAddress, ...]:
    """Billing and shipping as addressBook lines; one line flagged for both when they are the same address."""
    billing, shipping = account.billing, account.shipping
    if billing.is_empty and shipping.is_empty:
        return ()
    if billing == shipping:
        return (_address_line(billing, "Billing", True, True, countries, addressee, problems),)
    lines = []
    if not billing.is_empty:
        lines.append(_address_line(billing, "Billing", True, False, countries, addressee, problems))
    if not shipping.is_empty:
        lines.append(_address_line(shipping, "Shipping", False, True, countries, addressee, problems))
    return tuple(lines)


def _address_line(
    address: PostalAddress,
    kind: str,
    default_billing: bool,
    default_shipping: bool,
    countries: Mapping[str, str],
    addressee: str | None,
    problems: list[MappingProblem],
) -> NetSuiteAddress:
    lines = [line for line in (_clean(part) for part in (address.street or "").splitlines()) if line]
    # NetSuite has three street lines; anything beyond the third is kept by joining it onto the third.
    lines = [*lines[:2], ", ".join(lines[2:])] if len(lines) > 3 else lines
    lines += [None] * (3 - len(lines))
    return NetSuiteAddress(
        label="Billing and shipping" if default_billing and default_shipping else kind,
        default_billing=default_billing,
        default_shipping=default_shipping,
        addressee=_truncate(addressee, ADDRESS_FIELD_MAX["addressee"]),
        addr1=_truncate(lines[0], ADDRESS_FIELD_MAX["addr1"]),
        addr2=_truncate(lines[1], ADDRESS_FIELD_MAX["addr2"]),
        addr3=_truncate(lines[2], ADDRESS_FIELD_MAX["addr3"]),
        city=_truncate(_clean(address.city), ADDRESS_FIELD_MAX["city"]),
        state=_truncate(_clean(address.state), ADDRESS_FIELD_MAX["state"]),
        zip=_truncate(_clean(address.postal_code), ADDRESS_FIELD_MAX["zip"]),
        country=_country(address.country, f"{kind}Country", countries, problems),
    )


def _country(value: str | None, field: str, countries: Mapping[str, str], problems: list[MappingProblem]) -> str | None:
    cleaned = _clean(value)
    if cleaned is None:
        return None
    if len(cleaned) == 2 and cleaned.isascii() and cleaned.isalpha():
        return cleaned.upper()
    code = _lookup(cleaned, countries)
    if code is None:
        problems.append(MappingProblem("UNMAPPED_COUNTRY", field, f"{cleaned!r} is not a known country"))
    return code


def _lookup(value: str, table: Mapping[str, str]) -> str | None:
    """Exact match first, then case-insensitive (picklist values are often retyped by admins)."""
    if value in table:
        return table[value]
    folded = value.casefold()
    return next((target for source, target in table.items() if source.casefold() == folded), None)


def _clean(value: str | None) -> str | None:
    """NFC-normalised, trimmed text; None for missing or blank."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _truncate(value: str | None, limit: int) -> str | None:
    """Cut to ``limit`` characters without leaving trailing space (NetSuite counts characters, not bytes)."""
    return value if value is None or len(value) <= limit else value[:limit].rstrip()


# -- ordering ----------------------------------------------------------------------------------------


def parents_first(accounts: Iterable[SalesforceAccount]) -> list[SalesforceAccount]:
    """The accounts ordered so that a parent in the batch comes before its children (input order otherwise).

    NetSuite rejects a ``parent`` that does not exist yet, so within one run every parent is written
    before the accounts that point at it. Salesforce forbids hierarchy cycles; should one arrive
    anyway, its members keep input order and the post step reports the child whose parent is missing.
    """
    batch = {account.id: account for account in accounts}
    ordered: dict[str, SalesforceAccount] = {}
    visiting: set[str] = set()

    def place(account: SalesforceAccount) -> None:
        if account.id in ordered or account.id in visiting:
            return
        visiting.add(account.id)
        parent = batch.get(account.parent_id or "")
        if parent is not None:
            place(parent)
        visiting.discard(account.id)
        ordered[account.id] = account

    for account in batch.values():
        place(account)
    return list(ordered.values())
