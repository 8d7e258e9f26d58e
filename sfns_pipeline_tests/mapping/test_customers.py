"""Account → NetSuite customer mapping: every mapped field, its edge cases, and ordering of parents."""

from decimal import Decimal

import pytest

from sfns_pipeline.mapping.customers import (
    AccountFieldNames,
    CustomerMappingError,
    CustomerMappingRules,
    NetSuiteCustomer,
    SalesforceAccount,
    map_account,
    parents_first,
)
from sfns_pipeline.settings import CustomerSyncSettings, FieldNames

NAMES = AccountFieldNames.from_settings(FieldNames())
RULES = CustomerMappingRules(
    subsidiary_id="1",
    payment_terms={"Net 30": "2", "Due on receipt": "4"},
    shipping_carriers={"UPS": "ups", "FedEx": "fedex"},
    countries={"United States": "US", "Deutschland": "DE"},
    duns_field="custentity_duns_number",
)
ACCOUNT_ID = "001000000000001AAA"
PARENT_ID = "001000000000002AAA"


def account(**fields) -> SalesforceAccount:
    return SalesforceAccount(**{"id": ACCOUNT_ID, "name": "Acme Supply", **fields})


def body(**fields) -> dict:
    return map_account(account(**fields), RULES, NAMES).rest_body(parent_netsuite_id=fields.get("parent_netsuite_id"))


def test_a_complete_account_maps_to_every_customer_field():
    record = {
        "Id": ACCOUNT_ID,
        "Name": "Acme Supply",
        "ParentId": PARENT_ID,
        "Parent": {"attributes": {"type": "Account"}, "NetSuite_Customer_Id__c": "77"},
        "NetSuite_Customer_Id__c": None,
        "Payment_Terms__c": "Net 30",
        "Credit_Limit__c": 25000.5,
        "Tax_Id__c": " DE123456789 ",
        "DUNS_Number__c": "123456789",
        "Shipping_Carrier__c": "UPS",
        "BillingStreet": "1 Main St\nSuite 200",
        "BillingCity": "Springfield",
        "BillingState": "IL",
        "BillingPostalCode": "62701",
        "BillingCountry": "United States",
        "ShippingStreet": "9 Dock Rd",
        "ShippingCity": "Joliet",
        "ShippingState": "IL",
        "ShippingPostalCode": "60431",
        "ShippingCountry": "US",
    }
    parsed = SalesforceAccount.from_record(record, NAMES)
    customer = map_account(parsed, RULES, NAMES)

    assert parsed.parent_netsuite_id == "77"
    assert customer.rest_body(parent_netsuite_id="77") == {
        "externalId": ACCOUNT_ID,
        "companyName": "Acme Supply",
        "subsidiary": {"id": "1"},
        "terms": {"id": "2"},
        "creditLimit": 25000.5,
        "defaultTaxReg": "DE123456789",
        "shippingCarrier": {"id": "ups"},
        "parent": {"id": "77"},
        "addressBook": {
            "items": [
                {
                    "label": "Billing",
                    "defaultBilling": True,
                    "defaultShipping": False,
                    "addressBookAddress": {
                        "addressee": "Acme Supply",
                        "addr1": "1 Main St",
                        "addr2": "Suite 200",
                        "addr3": None,
                        "city": "Springfield",
                        "state": "IL",
                        "zip": "62701",
                        "country": {"id": "US"},
                    },
                },
                {
                    "label": "Shipping",
                    "defaultBilling": False,
                    "defaultShipping": True,
                    "addressBookAddress": {
                        "addressee": "Acme Supply",
                        "addr1": "9 Dock Rd",
                        "addr2": None,
                        "addr3": None,
                        "city": "Joliet",
                        "state": "IL",
                        "zip": "60431",
                        "country": {"id": "US"},
                    },
                },
            ]
        },
        "custentity_duns_number": "123456789",
        "custentity_sf_account_id": ACCOUNT_ID,
    }


@pytest.mark.parametrize(
    ("fields", "key", "expected"),
    [
        # company name: trimmed, NFC-normalised, cut to NetSuite's 83 characters
        ({"name": "  Acme  "}, "companyName", "Acme"),
        ({"name": "A" * 100}, "companyName", "A" * 83),
        ({"name": "B" * 82 + " C"}, "companyName", "B" * 82),  # no trailing space after the cut
        ({"name": "Müller Großhandel GmbH"}, "companyName", "Müller Großhandel GmbH"),
        ({"name": "Cafe\u0301 Ltd"}, "companyName", "Café Ltd"),  # decomposed é becomes one character
        ({"name": "東京商事株式会社" * 12}, "companyName", ("東京商事株式会社" * 12)[:83]),
        # payment terms: mapped id; missing -> null (clears); case-insensitive match
        ({"payment_terms": "Net 30"}, "terms", {"id": "2"}),
        ({"payment_terms": "due on receipt"}, "terms", {"id": "4"}),
        ({"payment_terms": None}, "terms", None),
        ({"payment_terms": "  "}, "terms", None),
        # credit limit: two decimals, zero kept, missing -> null
        ({"credit_limit": Decimal("1000")}, "creditLimit", 1000.0),
        ({"credit_limit": Decimal("99.999")}, "creditLimit", 100.0),
        ({"credit_limit": Decimal("0")}, "creditLimit", 0.0),
        ({"credit_limit": None}, "creditLimit", None),
        # tax id: trimmed, never truncated
        ({"tax_id": "GB 123 4567 89"}, "defaultTaxReg", "GB 123 4567 89"),
        ({"tax_id": None}, "defaultTaxReg", None),
        # DUNS: separators removed
        ({"duns": "12-345-6789"}, "custentity_duns_number", "123456789"),
        ({"duns": None}, "custentity_duns_number", None),
        # shipping carrier
        ({"shipping_carrier": "FedEx"}, "shippingCarrier", {"id": "fedex"}),
        ({"shipping_carrier": None}, "shippingCarrier", None),
        # parent: none -> null (clears a removed parent)
        ({}, "parent", None),
        ({"parent_id": PARENT_ID, "parent_netsuite_id": "77"}, "parent", {"id": "77"}),
        # the Salesforce id travels as externalId and as the custom field
        ({}, "externalId", ACCOUNT_ID),
        ({}, "custentity_sf_account_id", ACCOUNT_ID),
        ({}, "subsidiary", {"id": "1"}),
        # no address at all -> an empty address book
        ({}, "addressBook", {"items": []}),
    ],
)
def test_field_mapping(fields, key, expected):
    assert body(**fields)[key] == expected


ADDRESS = {"street": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US"}


@pytest.mark.parametrize(
    ("billing", "shipping", "lines"),
    [
        # the same address once, default for both
        (ADDRESS, ADDRESS, [("Billing and shipping", True, True)]),
        (ADDRESS, {}, [("Billing", True, False)]),
        ({}, ADDRESS, [("Shipping", False, True)]),
        (ADDRESS, {**ADDRESS, "city": "Joliet"}, [("Billing", True, False), ("Shipping", False, True)]),
        ({}, {}, []),
    ],
)
def test_address_book_lines(billing, shipping, lines):
    items = body(billing=billing, shipping=shipping)["addressBook"]["items"]
    assert [(i["label"], i["defaultBilling"], i["defaultShipping"]) for i in items] == lines


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # four street lines: NetSuite has three, the rest is joined onto the third
        ({"street": "A\nB\nC\nD"}, {"addr1": "A", "addr2": "B", "addr3": "C, D"}),
        ({"street": "\n  A  \n\nB"}, {"addr1": "A", "addr2": "B", "addr3": None}),
        ({"street": "x" * 200}, {"addr1": "x" * 150}),
        ({"city": "c" * 60, "state": "s" * 40, "postal_code": "9" * 40}, {"city": "c" * 50, "state": "s" * 30}),
        ({"postal_code": "9" * 40}, {"zip": "9" * 36}),
        ({"city": "Köln", "country": "Deutschland"}, {"city": "Köln", "country": {"id": "DE"}}),
        ({"city": "Lyon", "country": "fr"}, {"country": {"id": "FR"}}),  # ISO code passes through
        ({"city": "Springfield", "country": "united states"}, {"country": {"id": "US"}}),
        ({"city": "Springfield", "country": None}, {"country": None}),
    ],
)
def test_address_fields(address, expected):
    (item,) = body(billing=address, shipping=address)["addressBook"]["items"]
    assert expected.items() <= item["addressBookAddress"].items()


def test_addressee_is_the_truncated_company_name():
    (item,) = body(name="N" * 90, billing=ADDRESS, shipping=ADDRESS)["addressBook"]["items"]
    assert item["addressBookAddress"]["addressee"] == "N" * 83


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"payment_terms": "Net 90"}, "UNMAPPED_PAYMENT_TERMS", "Payment_Terms__c"),
        ({"shipping_carrier": "Pigeon"}, "UNMAPPED_SHIPPING_CARRIER", "Shipping_Carrier__c"),
        ({"duns": "12345"}, "INVALID_DUNS", "DUNS_Number__c"),
        ({"duns": "12345678X"}, "INVALID_DUNS", "DUNS_Number__c"),
        ({"credit_limit": Decimal("-1")}, "INVALID_CREDIT_LIMIT", "Credit_Limit__c"),
        ({"billing": {"city": "Atlantis", "country": "Atlantis"}}, "UNMAPPED_COUNTRY", "BillingCountry"),
        ({"shipping": {"city": "Atlantis", "country": "Atlantis"}}, "UNMAPPED_COUNTRY", "ShippingCountry"),
        ({"name": "   "}, "REQUIRED_FIELD_MISSING", "Name"),
    ],
)
def test_unmappable_values_are_a_record_error_naming_the_field(fields, code, field):
    with pytest.raises(CustomerMappingError) as raised:
        map_account(account(**fields), RULES, NAMES)
    assert raised.value.error_code == code
    assert raised.value.retryable is False
    assert raised.value.problems[0].field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(CustomerMappingError) as raised:
        map_account(account(payment_terms="Net 90", shipping_carrier="Pigeon"), RULES, NAMES)
    assert [p.code for p in raised.value.problems] == ["UNMAPPED_PAYMENT_TERMS", "UNMAPPED_SHIPPING_CARRIER"]
    assert "'Net 90' has no NetSuite term (known: Due on receipt, Net 30)" in str(raised.value)


@pytest.mark.parametrize(
    ("setting", "api_name", "attribute", "value"),
    [
        ("account_netsuite_id", "NS_Id__c", "netsuite_id", "12"),
        ("account_payment_terms", "Terms__c", "payment_terms", "Net 30"),
        ("account_credit_limit", "Limit__c", "credit_limit", Decimal("2500.00")),
        ("account_tax_id", "VAT_Number__c", "tax_id", "DE123456789"),
        ("account_duns", "DnB_Number__c", "duns", "123456789"),
        ("account_shipping_carrier", "Carrier__c", "shipping_carrier", "UPS"),
    ],
)
def test_configured_field_names_are_selected_and_read(setting, api_name, attribute, value):
    names = AccountFieldNames.from_settings(FieldNames(**{setting: api_name}))
    default = FieldNames.model_fields[setting].default
    assert api_name in names.soql_fields() and default not in names.soql_fields()
    record = {"Id": ACCOUNT_ID, "Name": "X", api_name: value, default: "stale", "Parent": None}
    assert getattr(SalesforceAccount.from_record(record, names), attribute) == value


def test_the_parent_is_read_through_the_configured_netsuite_id():
    names = AccountFieldNames.from_settings(FieldNames(account_netsuite_id="NS_Id__c"))
    record = {"Id": ACCOUNT_ID, "Name": "X", "ParentId": PARENT_ID, "Parent": {"NS_Id__c": "7"}}
    assert SalesforceAccount.from_record(record, names).parent_netsuite_id == "7"
    assert "Parent.NS_Id__c" in names.soql_fields()


def test_a_parent_must_be_resolved_before_writing_a_child():
    customer = map_account(account(parent_id=PARENT_ID), RULES, NAMES)
    with pytest.raises(ValueError, match="needs its parent's NetSuite id"):
        customer.rest_body()


def test_default_settings_map_the_sandbox_picklists():
    settings = CustomerSyncSettings()
    rules = CustomerMappingRules(
        subsidiary_id=settings.subsidiary_id,
        payment_terms=settings.payment_terms,
        shipping_carriers=settings.shipping_carriers,
        countries=settings.countries,
    )
    for terms in ("Due on receipt", "Net 15", "Net 30", "Net 60"):
        for carrier in ("UPS", "FedEx", "USPS", "DHL"):
            map_account(account(payment_terms=terms, shipping_carrier=carrier), rules, NAMES)


class TestFingerprint:
    def test_equal_accounts_have_equal_fingerprints(self):
        one = map_account(account(payment_terms="Net 30", billing=ADDRESS), RULES, NAMES)
        two = map_account(account(payment_terms="Net 30", billing=ADDRESS), RULES, NAMES)
        assert one.fingerprint() == two.fingerprint()

    @pytest.mark.parametrize(
        "change",
        [
            {"name": "Acme Supply Co"},
            {"payment_terms": "Due on receipt"},
            {"credit_limit": Decimal("1")},
            {"parent_id": PARENT_ID},
            {"billing": {**ADDRESS, "postal_code": "62702"}},
            {"duns": "987654321"},
        ],
    )
    def test_any_mapped_change_changes_the_fingerprint(self, change):
        base = {"payment_terms": "Net 30", "billing": ADDRESS}
        assert (
            map_account(account(**base), RULES, NAMES).fingerprint()
            != map_account(account(**{**base, **change}), RULES, NAMES).fingerprint()
        )

    def test_fields_that_are_not_sent_do_not_change_it(self):
        # the writeback (NetSuite id, sync status) must not make the next event look like a change
        before = map_account(account(), RULES, NAMES)
        after = map_account(account(netsuite_id="55", parent_netsuite_id=None), RULES, NAMES)
        assert before.fingerprint() == after.fingerprint()


def test_customer_model_is_immutable():
    customer = map_account(account(), RULES, NAMES)
    assert isinstance(customer, NetSuiteCustomer)
    with pytest.raises(ValueError):
        customer.company_name = "changed"


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        # child listed before its parent, grandchild before both
        ([("c", "p"), ("g", "c"), ("p", None)], ["p", "c", "g"]),
        # parent outside the batch: input order kept
        ([("c", "elsewhere"), ("x", None)], ["c", "x"]),
        # a cycle (Salesforce forbids it) does not loop forever
        ([("a", "b"), ("b", "a")], ["b", "a"]),
        ([], []),
    ],
)
def test_parents_first(batch, expected):
    accounts = [SalesforceAccount(id=i, name=i, parent_id=p) for i, p in batch]
    assert [a.id for a in parents_first(accounts)] == expected
