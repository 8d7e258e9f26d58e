"""SOAP records <-> the backend's REST-shaped dicts, for SalesOrder and Customer.

Each record type is a table of fields in NetSuite's XSD sequence order (the same order as ``wsdl/*.xsd``;
rendered ``get`` responses are validated against NetSuite's real XSDs in the contract tests). Reading a
request turns schema-valid XML into the REST record-API JSON the backend takes (references ``{"id"}``
or ``{"externalId"}``, sublists ``{"items": [...]}``, custom fields as top-level ``cust*`` keys, country
``{"id": "US"}``); rendering does the reverse for what the backend returns.

Dates: SOAP ``dateTime`` values go to the backend as given (it reads a value without a zone as account
time, Pacific by default, as NetSuite does); dates come back as midnight Pacific, the way NetSuite
shows date fields over SOAP (netsuite-facts.md §2.5).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from sfns_pipeline.sandbox.netsuite.backend import NetSuiteError
from sfns_pipeline.sandbox.netsuite.soap.xsd import XSI_NS, Namespaces, countries

PACIFIC = ZoneInfo("America/Los_Angeles")

# SalesOrderOrderStatus enumeration <-> the status letter of SalesOrd:<letter>.
ORDER_STATUSES = {
    "_pendingApproval": "A",
    "_pendingFulfillment": "B",
    "_cancelled": "C",
    "_partiallyFulfilled": "D",
    "_pendingBillingPartFulfilled": "E",
    "_pendingBilling": "F",
    "_fullyBilled": "G",
    "_closed": "H",
}
_ORDER_STATUS_ENUMS = {letter: enum for enum, letter in ORDER_STATUSES.items()}
_REST_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

CUSTOM_FIELD_TYPES: dict[type, str] = {
    bool: "BooleanCustomFieldRef",  # before int: bool is an int
    int: "LongCustomFieldRef",
    float: "DoubleCustomFieldRef",
    dict: "SelectCustomFieldRef",
    str: "StringCustomFieldRef",
}


@dataclass(frozen=True)
class Field:
    """One SOAP element and the REST key it maps to.

    ``kind`` picks the conversion; ``rest`` is the key written to the backend, ``source`` the key read
    back from it (they differ only where NetSuite's two APIs name one fact differently). Read-only
    fields (``write=False``) are rendered on get and, as NetSuite does, ignored on add/update.
    """

    name: str
    kind: str = "string"
    rest: str = ""
    source: str = ""
    write: bool = True
    shape: Shape | None = None  # subrecords and sublist lines
    line_element: str = ""  # sublists: the repeated child's name (itemList/item)

    @property
    def rest_key(self) -> str:
        """The key written to the backend."""
        return self.rest or self.name

    @property
    def source_key(self) -> str:
        """The key read back from the backend."""
        return self.source or self.rest_key


@dataclass(frozen=True)
class Shape:
    """A complex type: its namespace (an attribute of :class:`Namespaces`) and fields in sequence order."""

    type_name: str
    namespace: str
    fields: tuple[Field, ...]
    custom_prefix: str | None = None  # where customFieldList goes (custbody_, custcol_, custentity_)
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})


@dataclass(frozen=True)
class RecordKind:
    """A SOAP record type the sandbox serves, and its REST record type in the backend."""

    rest_type: str
    shape: Shape


ADDRESS = Shape(
    "Address",
    "common",
    (
        Field("country", "country"),
        Field("attention"),
        Field("addressee"),
        Field("addrPhone"),
        Field("addr1"),
        Field("addr2"),
        Field("addr3"),
        Field("city"),
        Field("state"),
        Field("zip"),
        Field("addrText", write=False),
        Field("override", "boolean"),
    ),
)

SALES_ORDER_ITEM = Shape(
    "SalesOrderItem",
    "sales",
    (
        Field("item", "ref"),
        Field("quantity", "double"),
        Field("description"),
        Field("price", "ref"),
        Field("rate", "rate"),
        Field("amount", "double"),
        Field("location", "ref"),
        Field("isClosed", "boolean"),
        Field("line", "long", write=False),
        Field("quantityBilled", "double", write=False),
        Field("quantityFulfilled", "double", write=False),
        Field("expectedShipDate", "date"),
    ),
    custom_prefix="custcol_",
)

SALES_ORDER = Shape(
    "SalesOrder",
    "sales",
    (
        Field("createdDate", "datetime", write=False),
        Field("customForm", "ref"),
        Field("entity", "ref"),
        Field("currency", "ref"),
        Field("tranDate", "date"),
        Field("tranId"),
        Field("orderStatus", "orderStatus", source="status"),
        Field("otherRefNum"),
        Field("memo"),
        Field("billingAddress", "subrecord", shape=ADDRESS),
        Field("shippingAddress", "subrecord", shape=ADDRESS),
        Field("shipDate", "date"),
        Field("shipMethod", "ref"),
        Field("total", "double", write=False),
        Field("department", "ref"),
        Field("subsidiary", "ref"),
        Field("lastModifiedDate", "datetime", write=False),
        Field("location", "ref"),
        Field("status", "statusName", write=False),
        Field("terms", "ref"),
        Field("itemList", "sublist", rest="item", shape=SALES_ORDER_ITEM, line_element="item"),
    ),
    custom_prefix="custbody_",
)

CUSTOMER_ADDRESSBOOK = Shape(
    "CustomerAddressbook",
    "relationships",
    (
        Field("defaultShipping", "boolean"),
        Field("defaultBilling", "boolean"),
        Field("isResidential", "boolean"),
        Field("label"),
        Field("addressbookAddress", "subrecord", rest="addressBookAddress", shape=ADDRESS),
    ),
)

CUSTOMER = Shape(
    "Customer",
    "relationships",
    (
        Field("customForm", "ref"),
        Field("entityId"),
        Field("isPerson", "boolean"),
        Field("firstName"),
        Field("lastName"),
        Field("companyName"),
        Field("parent", "ref"),
        Field("phone"),
        Field("email"),
        Field("isInactive", "boolean"),
        Field("dateCreated", "datetime", write=False),
        Field("subsidiary", "ref"),
        Field("vatRegNumber"),
        Field("terms", "ref"),
        Field("creditLimit", "double"),
        Field("priceLevel", "ref"),
        Field("currency", "ref"),
        Field("shippingItem", "ref"),
        Field("lastModifiedDate", "datetime", write=False),
        Field("addressbookList", "sublist", rest="addressBook", shape=CUSTOMER_ADDRESSBOOK, line_element="addressbook"),
    ),
    custom_prefix="custentity_",
)

RECORD_KINDS: dict[str, RecordKind] = {
    "SalesOrder": RecordKind("salesOrder", SALES_ORDER),
    "Customer": RecordKind("customer", CUSTOMER),
}
KINDS_BY_REST_TYPE = {kind.rest_type: kind for kind in RECORD_KINDS.values()}


@cache
def _iso_to_country() -> dict[str, str]:
    return {iso: enum for enum, iso in countries().items()}


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def xsi_type(element: etree._Element) -> tuple[str | None, str | None]:
    """(namespace, local name) of an element's ``xsi:type``, resolved against its in-scope prefixes."""
    value = element.get(f"{{{XSI_NS}}}type")
    if not value:
        return None, None
    prefix, _, local = value.rpartition(":")
    return element.nsmap.get(prefix or None), local


def _invalid(value: Any, name: str) -> NetSuiteError:
    return NetSuiteError("INVALID_FLD_VALUE", f"Invalid Field Value {value} for the following field: {name}", name)


def rest_date(value: str) -> str:
    """A SOAP dateTime as the REST date it stands for: the Pacific calendar day (no zone = Pacific)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=PACIFIC)).astimezone(PACIFIC).date().isoformat()


# -- XML -> REST ----------------------------------------------------------------------------------------------------


def _ref_to_rest(element: etree._Element) -> dict[str, str]:
    if element.get("internalId") is not None:
        return {"id": element.get("internalId")}
    if element.get("externalId") is not None:
        return {"externalId": element.get("externalId")}
    return {}


def _custom_value(element: etree._Element, ns: Namespaces) -> Any:
    _, type_name = xsi_type(element)
    value = element.find(f"{{{ns.core}}}value")
    text = (value.text or "") if value is not None else ""
    readers: dict[str, Callable[[], Any]] = {
        "StringCustomFieldRef": lambda: text,
        "BooleanCustomFieldRef": lambda: text.strip() in ("true", "1"),
        "LongCustomFieldRef": lambda: int(text),
        "DoubleCustomFieldRef": lambda: float(text),
        "DateCustomFieldRef": lambda: rest_date(text.strip()),
        "SelectCustomFieldRef": lambda: _ref_to_rest(value),
    }
    return readers[type_name]()


def _value_to_rest(element: etree._Element, spec: Field, ns: Namespaces) -> Any:
    text = (element.text or "").strip()
    kind = spec.kind
    if kind == "ref":
        return _ref_to_rest(element)
    if kind == "double":
        return float(text)
    if kind == "long":
        return int(text)
    if kind == "boolean":
        return text in ("true", "1")
    if kind == "rate":  # a string in SOAP, a number in REST
        try:
            return float(text)
        except ValueError:
            raise _invalid(text, spec.name) from None
    if kind == "country":
        return {"id": countries()[text]}
    if kind == "orderStatus":
        return ORDER_STATUSES.get(text, text)
    if kind == "subrecord":
        return to_rest(element, spec.shape, ns)
    if kind == "sublist":
        lines = element.iterfind(f"{{{getattr(ns, spec.shape.namespace)}}}{spec.line_element}")
        return {"items": [to_rest(line, spec.shape, ns) for line in lines]}
    return element.text or ""  # strings and dates (the backend parses dateTime values itself)


def to_rest(element: etree._Element, shape: Shape, ns: Namespaces) -> dict[str, Any]:
    """A schema-valid record (or subrecord/line) as the backend's REST-shaped dict (writable fields only)."""
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = _local(child)
        if name == "nullFieldList":
            for null in child:
                if isinstance(null.tag, str) and null.text:
                    spec = shape.by_name.get(null.text.strip())
                    out[spec.rest_key if spec else null.text.strip()] = None
        elif name == "customFieldList":
            for custom in child.iterfind(f"{{{ns.core}}}customField"):
                script_id = custom.get("scriptId") or custom.get("internalId")
                if not script_id:
                    raise NetSuiteError("INVALID_CSTM_FIELD_REF", "A custom field needs a scriptId.", "customFieldList")
                out[script_id] = _custom_value(custom, ns)
        else:
            spec = shape.by_name[name]
            if spec.write:
                out[spec.rest_key] = _value_to_rest(child, spec, ns)
    return out


# -- REST -> XML ----------------------------------------------------------------------------------------------------


def soap_date(value: str) -> str:
    """A REST date (``2024-01-15``) as NetSuite's SOAP dateTime: midnight Pacific."""
    midnight = datetime.combine(date.fromisoformat(value[:10]), time(), tzinfo=PACIFIC)
    return midnight.isoformat(timespec="milliseconds")


def soap_datetime(value: str) -> str:
    """A stored UTC instant (``2024-01-15T18:00:00Z``) as a SOAP dateTime in Pacific time."""
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(PACIFIC).isoformat(timespec="milliseconds")


def xsd_double(value: Any) -> str:
    """A number as an ``xsd:double`` literal, e.g. ``3.0`` rather than ``3``."""
    number = float(value)
    return str(int(number)) + ".0" if number.is_integer() else repr(number)


def _render_ref(element: etree._Element, value: Any, ns: Namespaces) -> None:
    if not isinstance(value, dict):
        value = {"id": str(value)}
    if value.get("id") is not None:
        element.set("internalId", str(value["id"]))
    if value.get("externalId") is not None:
        element.set("externalId", str(value["externalId"]))
    if value.get("refName"):
        etree.SubElement(element, f"{{{ns.core}}}name").text = str(value["refName"])


def _render_custom_fields(parent: etree._Element, namespace: str, values: dict[str, Any], ns: Namespaces) -> None:
    customs = [(key, value) for key, value in values.items() if value is not None]
    if not customs:
        return
    holder = etree.SubElement(parent, f"{{{namespace}}}customFieldList")  # the record's namespace; its children core
    for script_id, value in customs:
        if isinstance(value, str) and _REST_DATE.match(value):
            type_name, value = "DateCustomFieldRef", soap_date(value)  # REST shows date custom fields as 2024-01-20
        else:
            type_name = next(name for python_type, name in CUSTOM_FIELD_TYPES.items() if isinstance(value, python_type))
        custom = etree.SubElement(holder, f"{{{ns.core}}}customField", scriptId=script_id)
        custom.set(f"{{{XSI_NS}}}type", f"platformCore:{type_name}")
        element = etree.SubElement(custom, f"{{{ns.core}}}value")
        if isinstance(value, dict):
            _render_ref(element, value, ns)
        elif isinstance(value, bool):
            element.text = "true" if value else "false"
        elif isinstance(value, float):
            element.text = xsd_double(value)
        else:
            element.text = str(value)


def _render_value(element: etree._Element, spec: Field, value: Any, ns: Namespaces) -> bool:
    """Fill ``element`` from ``value``; False when the value has no SOAP form (the element is dropped)."""
    kind = spec.kind
    if kind == "ref":
        _render_ref(element, value, ns)
    elif kind == "double":
        element.text = xsd_double(value)
    elif kind == "long":
        element.text = str(int(value))
    elif kind == "boolean":
        element.text = "true" if value else "false"
    elif kind == "rate":
        element.text = xsd_double(value).removesuffix(".0")
    elif kind == "date":
        element.text = soap_date(str(value))
    elif kind == "datetime":
        element.text = soap_datetime(str(value))
    elif kind == "country":
        iso = value.get("id") if isinstance(value, dict) else value
        if iso not in _iso_to_country():
            return False
        element.text = _iso_to_country()[iso]
    elif kind == "orderStatus":
        letter = value.get("id") if isinstance(value, dict) else value
        if letter not in _ORDER_STATUS_ENUMS:
            return False
        element.text = _ORDER_STATUS_ENUMS[letter]
    elif kind == "statusName":
        element.text = value.get("refName", "") if isinstance(value, dict) else str(value)
    elif kind == "subrecord":
        render_fields(element, spec.shape, value, ns)
    elif kind == "sublist":
        line_ns = getattr(ns, spec.shape.namespace)
        for line in value.get("items", []) if isinstance(value, dict) else []:
            render_fields(etree.SubElement(element, f"{{{line_ns}}}{spec.line_element}"), spec.shape, line, ns)
    else:
        element.text = str(value)
    return True


def render_fields(parent: etree._Element, shape: Shape, data: dict[str, Any], ns: Namespaces) -> None:
    """Append ``data``'s fields to ``parent`` as ``shape``'s child elements, in sequence order."""
    namespace = getattr(ns, shape.namespace)
    for spec in shape.fields:
        value = data.get(spec.source_key)
        if value is None or value == "":
            continue
        element = etree.SubElement(parent, f"{{{namespace}}}{spec.name}")
        if not _render_value(element, spec, value, ns):
            parent.remove(element)
    if shape.custom_prefix:
        customs = {key: value for key, value in data.items() if key.startswith(shape.custom_prefix)}
        _render_custom_fields(parent, namespace, customs, ns)


def render_record(parent: etree._Element, tag: str, kind: RecordKind, data: dict[str, Any], ns: Namespaces) -> None:
    """Append ``<tag xsi:type="tranSales:SalesOrder" internalId=.. externalId=..>`` with the record's fields."""
    prefix = {"sales": "tranSales", "relationships": "listRel"}[kind.shape.namespace]
    record = etree.SubElement(parent, tag)
    record.set(f"{{{XSI_NS}}}type", f"{prefix}:{kind.shape.type_name}")
    if data.get("id") is not None:
        record.set("internalId", str(data["id"]))
    if data.get("externalId") is not None:
        record.set("externalId", str(data["externalId"]))
    render_fields(record, kind.shape, data, ns)
