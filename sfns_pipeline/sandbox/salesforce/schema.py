"""The org's metadata, loaded from ``org.json``: objects, fields, relationships, platform events, triggers.

Everything the backend knows about "what is an Account" comes from here, so adding a field to the org
is a data change. Names are case-insensitive in Salesforce (``account.name`` is ``Account.Name``);
lookups here accept any case and return the canonical API name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORG_FILE = Path(__file__).with_name("org.json")

ADDRESS_COMPONENTS = (
    ("Street", "textarea", 255),
    ("City", "string", 40),
    ("State", "string", 80),
    ("PostalCode", "string", 20),
    ("Country", "string", 80),
    ("Latitude", "double", None),
    ("Longitude", "double", None),
    ("GeocodeAccuracy", "picklist", None),
)
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})


@dataclass(frozen=True)
class FieldDef:
    """One field as describe shows it, plus the rules the backend enforces."""

    name: str
    type: str
    label: str
    length: int | None = None
    required: bool = False  # nillable=false and createable: REQUIRED_FIELD_MISSING when absent
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    default: Any = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    child_relationship_name: str | None = None
    auto_number: str | None = None  # display format, e.g. "{00000000}" or "PAY-{000000}"
    calculated: dict[str, list[str]] | None = None  # {"sum": [child relationship, field]} | {"product": [...]}
    derive: str | None = None  # set on insert from a path, e.g. "PricebookEntry.Product2Id"
    address: str | None = None  # compound address prefix ("Billing") for the address field itself
    precision: int | None = None
    scale: int | None = None
    custom: bool = False
    system: bool = False

    @property
    def writable_on_insert(self) -> bool:
        """Whether a create may set the field (createable and not computed)."""
        return self.createable and not self.computed

    @property
    def computed(self) -> bool:
        """Values the org fills in itself (auto-numbers, roll-ups, formulas, derived and compound fields)."""
        return bool(self.auto_number or self.calculated or self.address or (self.derive and not self.createable))

    def describe(self) -> dict[str, Any]:
        """This field in the shape of a describe result."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "length": self.length or 0,
            "precision": self.precision or 0,
            "scale": self.scale or 0,
            "nillable": not self.required and self.type != "boolean" and not self.system,
            "createable": self.writable_on_insert,
            "updateable": self.updateable and self.createable and not self.computed,
            "defaultedOnCreate": self.default is not None or self.system or self.computed,
            "defaultValue": self.default,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.id_lookup or self.external_id or self.name == "Id",
            "autoNumber": self.auto_number is not None,
            "calculated": self.calculated is not None,
            "custom": self.custom,
            "filterable": self.type != "address",
            "sortable": self.type not in ("address", "textarea"),
            "picklistValues": [
                {
                    "value": value,
                    "label": value,
                    "active": True,
                    "defaultValue": value == self.default,
                    "validFor": None,
                }
                for value in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
        }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}


@dataclass(frozen=True)
class ChildRelationship:
    """A parent's view of a lookup: ``Order.OrderItems`` is OrderItem.OrderId."""

    name: str
    child: str
    field: str


@dataclass
class ObjectDef:
    """An sObject type (or a platform event) and its fields by lower-cased name."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    custom: bool
    createable: bool = True
    is_event: bool = False
    fields: dict[str, FieldDef] = field(default_factory=dict)
    children: dict[str, ChildRelationship] = field(default_factory=dict)

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name`` (any case), or None."""
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The lookup field whose relationship is called ``name`` (``Account`` → AccountId)."""
        lowered = name.lower()
        return next(
            (f for f in self.fields.values() if f.relationship_name and f.relationship_name.lower() == lowered), None
        )

    def child(self, name: str) -> ChildRelationship | None:
        """The child relationship called ``name`` (``OrderItems``), or None."""
        return self.children.get(name.lower())

    def describe(self, version: str) -> dict[str, Any]:
        """The full describe result."""
        return {
            **self.summary(version),
            "fields": [f.describe() for f in self.fields.values()],
            "childRelationships": [
                {"childSObject": rel.child, "field": rel.field, "relationshipName": rel.name, "cascadeDelete": False}
                for rel in self.children.values()
            ],
        }

    def summary(self, version: str) -> dict[str, Any]:
        """The object as the global describe lists it."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.createable and not self.is_event,
            "deletable": self.createable and not self.is_event,
            "queryable": not self.is_event,
            "searchable": not self.is_event,
            "triggerable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }


@dataclass(frozen=True)
class Trigger:
    """Publishes ``event`` when a record of ``object`` is written, like an Apex trigger would.

    ``integration_owned_fields`` (fnmatch patterns) are the fields the integration writes back; a write
    by the integration user that changes only those publishes nothing, which breaks the sync loop.
    """

    object: str
    on: tuple[str, ...]
    event: str
    payload: dict[str, str]
    integration_owned_fields: tuple[str, ...] = ()
    when_field: str | None = None
    when_becomes: Any = None


@dataclass
class Org:
    """The whole org definition."""

    objects: dict[str, ObjectDef]  # lower-cased name -> object (sObjects and platform events)
    triggers: list[Trigger]
    users: list[dict[str, Any]]
    connected_apps: list[dict[str, Any]]
    api_versions: dict[str, str]  # served API version -> its release label, oldest first
    default_api_version: str
    change_types: dict[str, str]

    def object(self, name: str) -> ObjectDef | None:
        """The sObject or platform event called ``name`` (any case), or None."""
        return self.objects.get(name.lower())

    def by_prefix(self, key_prefix: str) -> ObjectDef | None:
        """The sObject whose ids start with ``key_prefix``, or None."""
        return next((o for o in self.objects.values() if o.key_prefix == key_prefix), None)

    @property
    def platform_events(self) -> list[ObjectDef]:
        """The org's platform events (``__e`` objects)."""
        return [o for o in self.objects.values() if o.is_event]

    def triggers_for(self, object_name: str, operation: str) -> list[Trigger]:
        """The triggers that fire on ``operation`` ("insert", "update" or "delete") of ``object_name``."""
        return [t for t in self.triggers if t.object == object_name and operation in t.on]


def _system_fields(owned: bool) -> list[FieldDef]:
    def system(name: str, type_: str, label: str, **extra: Any) -> FieldDef:
        return FieldDef(name, type_, label, createable=False, updateable=False, system=True, **extra)

    fields = [
        system("Id", "id", "Record ID", length=18),
        system("IsDeleted", "boolean", "Deleted", default=False),
        system("CreatedDate", "datetime", "Created Date"),
        system("CreatedById", "reference", "Created By ID", reference_to="User", relationship_name="CreatedBy"),
        system("LastModifiedDate", "datetime", "Last Modified Date"),
        system(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            reference_to="User",
            relationship_name="LastModifiedBy",
        ),
        system("SystemModstamp", "datetime", "System Modstamp"),
    ]
    if owned:
        fields.append(
            FieldDef("OwnerId", "reference", "Owner ID", reference_to="User", relationship_name="Owner", system=True)
        )
    return fields


def _label(name: str) -> str:
    return name.removesuffix("__c").removesuffix("Id").replace("_", " ").strip() or name


def _field(spec: dict[str, Any]) -> FieldDef:
    readonly = spec.get("readonly", False)
    return FieldDef(
        name=spec["name"],
        type=spec["type"],
        label=spec.get("label", _label(spec["name"])),
        length=spec.get("length"),
        required=spec.get("required", False),
        createable=not readonly,
        updateable=spec.get("updateable", True) and not readonly,
        external_id=spec.get("externalId", False),
        unique=spec.get("unique", False),
        id_lookup=spec.get("idLookup", False),
        default=spec.get("default"),
        picklist=tuple(spec.get("values", ())),
        restricted=spec.get("restricted", False),
        reference_to=spec.get("referenceTo"),
        relationship_name=spec.get("relationshipName"),
        child_relationship_name=spec.get("childRelationshipName"),
        auto_number=spec.get("autoNumber"),
        calculated=spec.get("calculated"),
        derive=spec.get("derive"),
        precision=spec.get("precision"),
        scale=spec.get("scale"),
        custom=spec["name"].endswith("__c"),
    )


def _address_fields(prefix: str) -> list[FieldDef]:
    components = [
        FieldDef(f"{prefix}{part}", type_, f"{prefix} {part}", length=length)
        for part, type_, length in ADDRESS_COMPONENTS
    ]
    compound = FieldDef(
        f"{prefix}Address", "address", f"{prefix} Address", createable=False, updateable=False, address=prefix
    )
    return [*components, compound]


def _object(name: str, spec: dict[str, Any], *, is_event: bool = False) -> ObjectDef:
    obj = ObjectDef(
        name=name,
        key_prefix=spec["keyPrefix"],
        label=spec.get("label", name),
        label_plural=spec.get("labelPlural", spec.get("label", name)),
        custom=name.endswith(("__c", "__e")),
        createable=spec.get("createable", True),
        is_event=is_event,
    )
    declared: list[FieldDef] = []
    for item in spec["fields"]:
        declared += _address_fields(item["address"]) if "address" in item else [_field(item)]
    system = (
        [FieldDef("CreatedDate", "datetime", "Created Date", createable=False, system=True)]
        if is_event
        else _system_fields(spec.get("owned", True))
    )
    for f in [*system, *declared]:
        obj.fields[f.name.lower()] = f
    return obj


def load_org(path: Path = ORG_FILE) -> Org:
    """Read the org definition and link child relationships to their parents."""
    data = json.loads(Path(path).read_text())
    objects = {name.lower(): _object(name, spec) for name, spec in data["objects"].items()}
    objects |= {name.lower(): _object(name, spec, is_event=True) for name, spec in data["platform_events"].items()}
    for obj in objects.values():
        for f in obj.fields.values():
            if f.child_relationship_name and f.reference_to:
                parent = objects[f.reference_to.lower()]
                rel = ChildRelationship(f.child_relationship_name, obj.name, f.name)
                parent.children[rel.name.lower()] = rel
    triggers = [
        Trigger(
            object=t["object"],
            on=tuple(t["on"]),
            event=t["event"],
            payload=t["payload"],
            integration_owned_fields=tuple(t.get("integration_owned_fields", ())),
            when_field=t.get("when", {}).get("field"),
            when_becomes=t.get("when", {}).get("becomes"),
        )
        for t in data["triggers"]
    ]
    return Org(
        objects=objects,
        triggers=triggers,
        users=data["users"],
        connected_apps=data["connected_apps"],
        api_versions=data["api_versions"],
        default_api_version=data["default_api_version"],
        change_types=data["change_types"],
    )
