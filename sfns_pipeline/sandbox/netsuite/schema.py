"""The account's record types, loaded from ``records.json``, and the SuiteQL tables that hold them.

Each REST record type lives in a table named as NetSuite's SuiteQL names it (``customer``, ``item``,
``transaction`` + ``transactionline``, ...), so SuiteQL runs over the very rows the record API writes.
Every table also keeps ``_extra``: body fields that are not columns (addresses, ...) as JSON, so a GET
returns what was written. ``transactionline`` holds a header row per transaction (``mainline = 'T'``) beside
its item lines (``mainline = 'F'``), as NetSuite's does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa

# Custom field script ids; only names of this shape become SuiteQL columns (they are spliced into ALTER TABLE).
CUSTOM_FIELD = re.compile(r"^cust(body|entity|col|item|record)_[a-z0-9_]{1,60}$")


@dataclass(frozen=True)
class FieldDef:
    """One REST field: its SuiteQL column and the kind of value it holds."""

    name: str
    kind: str
    column: str
    to: str | None = None
    required: bool = False
    read_only: bool = False

    @classmethod
    def from_json(cls, name: str, spec: dict[str, Any]) -> FieldDef:
        """A field from its entry in the account schema JSON."""
        return cls(
            name=name,
            kind=spec["kind"],
            column=spec.get("column", name.lower()),
            to=spec.get("to"),
            required=spec.get("required", False),
            read_only=spec.get("readOnly", False),
        )


@dataclass(frozen=True)
class RecordType:
    """A REST record type (``salesOrder``) and where its rows live."""

    name: str
    table: str
    fields: dict[str, FieldDef]
    ref_name: str | None = None  # the field shown as refName (entities, lists)
    type_code: str | None = None  # transactions: SalesOrd, CustInvc, ...
    tran_id_prefix: str = ""
    initial_status: str | None = None
    entity_field: str | None = None
    lines: str | None = None  # name of the item sublist, if any
    has_apply: bool = False
    fixed: dict[str, str] = field(default_factory=dict)  # constant columns (item.itemtype)
    known_fields: frozenset[str] = frozenset()  # REST names kept as given, without a column of their own

    @property
    def is_transaction(self) -> bool:
        """Whether the record type is a transaction (it has a type code)."""
        return self.type_code is not None

    def has_field(self, name: str) -> bool:
        """Whether the REST record has a body field ``name`` (declared, known, custom, or a sublist)."""
        sublists = {self.lines, "apply" if self.has_apply else None}
        system = {"id", "links", "refName", "externalId", "lastModifiedDate", self.created_field}
        return (
            name in self.fields
            or name in self.known_fields
            or name in sublists
            or name in system
            or CUSTOM_FIELD.match(name) is not None
        )

    @property
    def created_field(self) -> str:
        """The REST name of the creation date: ``dateCreated`` on customers, ``createdDate`` elsewhere."""
        return "dateCreated" if self.table == "customer" else "createdDate"


@dataclass(frozen=True)
class AccountSchema:
    """Every record type of the sandbox account plus transaction type and status names."""

    record_types: dict[str, RecordType]
    line_fields: dict[str, FieldDef]
    apply_fields: dict[str, FieldDef]
    transaction_types: dict[str, dict[str, Any]]

    def record_type(self, name: str) -> RecordType | None:
        """Look a record type up case-insensitively, as NetSuite's REST paths accept (``customerpayment``)."""
        return next((record for key, record in self.record_types.items() if key.lower() == name.lower()), None)

    def status_name(self, compound: str) -> str:
        """``CustInvc:A`` -> ``Invoice : Open`` (what ``BUILTIN.DF(status)`` shows)."""
        code, _, letter = compound.partition(":")
        kind = self.transaction_types[code]
        return f"{kind['name']} : {kind['statuses'][letter]}"


@cache
def account_schema() -> AccountSchema:
    """The record types declared in ``records.json``."""
    raw = json.loads(resources.files(__package__).joinpath("records.json").read_text())
    tran_fields = {name: FieldDef.from_json(name, spec) for name, spec in raw["transactionFields"].items()}
    record_types: dict[str, RecordType] = {}
    for name, spec in raw["recordTypes"].items():
        if isinstance(spec["fields"], list):
            fields = {field_name: tran_fields[field_name] for field_name in spec["fields"]}
        else:
            fields = {field_name: FieldDef.from_json(field_name, f) for field_name, f in spec["fields"].items()}
        record_types[name] = RecordType(
            name=name,
            table=spec["table"],
            fields=fields,
            ref_name=spec.get("refName"),
            type_code=spec.get("typeCode"),
            tran_id_prefix=spec.get("tranIdPrefix", ""),
            initial_status=spec.get("initialStatus"),
            entity_field=spec.get("entityField"),
            lines=spec.get("lines"),
            has_apply=spec.get("apply", False),
            fixed=spec.get("fixed", {}),
            known_fields=frozenset(raw["knownFields"].get(name, ())),
        )
    return AccountSchema(
        record_types=record_types,
        line_fields={n: FieldDef.from_json(n, s) for n, s in raw["lineFields"].items()},
        apply_fields={n: FieldDef.from_json(n, s) for n, s in raw["applyFields"].items()},
        transaction_types=raw["transactionTypes"],
    )


_SQL_TYPES = {"float": sa.Float, "integer": sa.Integer, "ref": sa.Integer}


def _column(field_def: FieldDef) -> sa.Column:
    return sa.Column(field_def.column, _SQL_TYPES.get(field_def.kind, sa.Text)())


def build_metadata(schema: AccountSchema) -> sa.MetaData:
    """SQLAlchemy tables for every SuiteQL table the account has (custom columns are added at runtime)."""
    metadata = sa.MetaData()
    columns: dict[str, dict[str, sa.Column]] = {}
    for record in schema.record_types.values():
        table_columns = columns.setdefault(record.table, {})
        for field_def in record.fields.values():
            table_columns.setdefault(field_def.column, _column(field_def))
        for column in record.fixed:
            table_columns.setdefault(column, sa.Column(column, sa.Text))
        created = "datecreated" if record.table == "customer" else "createddate"
        table_columns.setdefault(created, sa.Column(created, sa.Text))
        if record.is_transaction:
            table_columns.setdefault("type", sa.Column("type", sa.Text, index=True))
    for table, table_columns in columns.items():
        sa.Table(
            table,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("externalid", sa.Text, index=True),
            sa.Column("lastmodifieddate", sa.Text, index=True),
            *table_columns.values(),
            sa.Column("_extra", sa.Text),
        )
    sa.Table(
        "transactionline",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("transaction", sa.Integer, sa.ForeignKey("transaction.id"), index=True),
        sa.Column("mainline", sa.Text),
        sa.Column("entity", sa.Integer),
        sa.Column("subsidiary", sa.Integer),
        sa.Column("createdfrom", sa.Integer),  # on the mainline row, as in NetSuite
        *[_column(f) for f in schema.line_fields.values()],
        sa.Column("_extra", sa.Text),
    )
    # How payments and refunds apply to invoices and credit memos, and what was created from what.
    sa.Table(
        "nexttransactionlinelink",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("previousdoc", sa.Integer, index=True),
        sa.Column("nextdoc", sa.Integer, index=True),
        sa.Column("linktype", sa.Text),
        sa.Column("foreignamount", sa.Float),
        sa.Column("linkdate", sa.Text),
    )
    # Display names behind BUILTIN.DF(status) and BUILTIN.DF(type).
    sa.Table("transactionstatus", metadata, sa.Column("id", sa.Text, primary_key=True), sa.Column("name", sa.Text))
    sa.Table("transactiontype", metadata, sa.Column("id", sa.Text, primary_key=True), sa.Column("name", sa.Text))
    sa.Table("dual", metadata, sa.Column("dummy", sa.Text, primary_key=True))  # Oracle's one-row table
    return metadata
