"""The NetSuite sandbox's state and business rules, independent of SOAP and REST (moto's "backend").

Records are written in the REST record-API JSON shape (references ``{"id": "12"}`` or
``{"externalId": "X"}``, sublists ``{"items": [...]}``) and read back in it (references
``{"id", "refName"}``, statuses ``{"id": "B", "refName": "Pending Fulfillment"}``). Rows live in
SQLite (SQLAlchemy) in the tables SuiteQL reads, so both APIs see one truth. Rules enforced here:

- references must exist (customer on an order, items by internal id, a customer's parent, ...):
  ``INVALID_KEY_OR_REF``; externalId is unique per record type: ``DUP_RCRD``;
- a payment applies to invoices of its customer, never more than an invoice's amount remaining,
  nor more than the payment; applying it lowers the amount remaining and sets the invoice paid in full;
- fulfilments and invoices come from sales orders (:meth:`NetSuiteBackend.fulfill_sales_order`,
  :meth:`NetSuiteBackend.bill_sales_order`), which move the order's status along;
- refunds apply to a customer's credit memos; a cash refund pays back item lines directly;
  ``lastmodifieddate`` follows the sandbox clock on every change;
- every transaction has its header row in ``transactionline`` (``mainline = 'T'``, line 0) beside its item
  lines (``mainline = 'F'``), as in NetSuite.

Sublists given on update replace the existing lines (SOAP ``replaceAll="true"``, REST ``replace=item``);
a rewritten order line keeps what was already shipped and billed on it (matched by position and item),
and a fulfilled line cannot be dropped.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.netsuite.credentials import Credentials
from sfns_pipeline.sandbox.netsuite.governance import ConcurrencyLimitExceeded, Governor
from sfns_pipeline.sandbox.netsuite.schema import (
    CUSTOM_FIELD,
    AccountSchema,
    FieldDef,
    RecordType,
    account_schema,
    build_metadata,
)
from sfns_pipeline.sandbox.netsuite.timefmt import AccountTime, DateFormatError
from sfns_pipeline.sandbox.sqlite import sqlite_engine

__all__ = ["ConcurrencyLimitExceeded", "Credentials", "Governor", "NetSuiteBackend", "NetSuiteError"]

EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,255}$")
_CENT = 0.005  # amounts are compared to the cent


class NetSuiteError(Exception):
    """A record-level error with NetSuite's code; REST and SOAP render it in their own shapes."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _not_found(record_type: str, key: str) -> NetSuiteError:
    return NetSuiteError("RCRD_DSNT_EXIST", f"That record does not exist. Invalid record: type={record_type},{key}.")


class NetSuiteBackend:
    """Records of one NetSuite account in SQLite; every public method is one transaction."""

    def __init__(
        self,
        database: Path,
        *,
        clock: SandboxClock,
        account_time: AccountTime | None = None,
        schema: AccountSchema | None = None,
    ) -> None:
        self.clock = clock
        self.time = account_time or AccountTime()
        self.schema = schema or account_schema()
        self.engine = sqlite_engine(database)
        self.metadata = build_metadata(self.schema)
        self.metadata.create_all(self.engine)
        self._lock = threading.RLock()  # SQLite has one writer; one lock keeps reads consistent with writes
        self._reconcile_columns()
        self._load_lookups()

    # ------------------------------------------------------------------------------------------------
    # setup
    def _reconcile_columns(self) -> None:
        """Know the custom columns a persisted account already has; give it the columns newer sandboxes declare."""
        inspector = sa.inspect(self.engine)
        with self.engine.begin() as conn:
            for table in self.metadata.sorted_tables:
                existing = {column["name"] for column in inspector.get_columns(table.name)}
                for name in existing - set(table.c.keys()):
                    table.append_column(sa.Column(name, sa.Text))
                for column in table.c:
                    if column.name not in existing:
                        column_type = column.type.compile(dialect=self.engine.dialect)
                        conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {column_type}')

    def _load_lookups(self) -> None:
        statuses, types = self.metadata.tables["transactionstatus"], self.metadata.tables["transactiontype"]
        with self.engine.begin() as conn:
            conn.execute(self.metadata.tables["dual"].delete())
            conn.execute(self.metadata.tables["dual"].insert().values(dummy="X"))
            conn.execute(statuses.delete())
            conn.execute(types.delete())
            for code, kind in self.schema.transaction_types.items():
                conn.execute(types.insert().values(id=code, name=kind["name"]))
                for letter in kind["statuses"]:
                    compound = f"{code}:{letter}"
                    conn.execute(statuses.insert().values(id=compound, name=self.schema.status_name(compound)))

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One locked database transaction (SuiteQL reads use it too)."""
        with self._lock, self.engine.begin() as conn:
            yield conn

    def _now(self) -> str:
        return self.time.store_instant(self.clock.now())

    # ------------------------------------------------------------------------------------------------
    # public interface (shared by REST and SOAP)
    def create(self, record_type: str, fields: dict, *, external_id: str | None = None) -> str:
        """Add a record; returns its internal id. ``DUP_RCRD`` if the externalId is taken for this type."""
        record = self._record_type(record_type)
        external_id = external_id or fields.get("externalId")
        with self.transaction() as conn:
            return str(self._create(conn, record, fields, external_id))

    def update(self, record_type: str, internal_id: str, fields: dict) -> None:
        """Change the given fields (``None`` clears a field); omitted fields stay as they are."""
        record = self._record_type(record_type)
        with self.transaction() as conn:
            row = self._row(conn, record, internal_id=internal_id)
            self._update(conn, record, row, fields)

    def upsert(self, record_type: str, external_id: str, fields: dict) -> tuple[str, bool]:
        """Update the record with this externalId, or create it; returns (internal id, created)."""
        record = self._record_type(record_type)
        if not external_id:
            raise NetSuiteError("USER_ERROR", "This operation requies a value for externalId.", "externalId")
        fields = {name: value for name, value in fields.items() if name != "externalId"}  # the key is the eid
        with self.transaction() as conn:
            existing = self._find(conn, record, external_id=external_id)
            if existing is None:
                return str(self._create(conn, record, fields, external_id)), True
            self._update(conn, record, existing, fields)
            return str(existing["id"]), False

    def get(self, record_type: str, *, internal_id: str | None = None, external_id: str | None = None) -> dict:
        """The record in REST JSON shape; ``RCRD_DSNT_EXIST`` if absent."""
        record = self._record_type(record_type)
        with self.transaction() as conn:
            row = self._row(conn, record, internal_id=internal_id, external_id=external_id)
            return self._to_json(conn, record, row)

    def resolve(self, record_type: str, key: str) -> str:
        """Internal id for ``12`` or ``eid:ABC`` (the REST path forms); ``RCRD_DSNT_EXIST`` if absent."""
        record = self._record_type(record_type)
        with self.transaction() as conn:
            if key.startswith("eid:"):
                return str(self._row(conn, record, external_id=key[4:])["id"])
            return str(self._row(conn, record, internal_id=key)["id"])

    def list_ids(
        self, record_type: str, where: sa.ColumnElement | None, *, limit: int, offset: int
    ) -> tuple[list[str], int]:
        """One page of internal ids (ascending) matching ``where``, and the total count."""
        record = self._record_type(record_type)
        table = self.metadata.tables[record.table]
        condition = sa.and_(self._type_filter(record, table), where if where is not None else sa.true())
        with self.transaction() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()
            ids = conn.execute(
                sa.select(table.c.id).where(condition).order_by(table.c.id).limit(limit).offset(offset)
            ).scalars()
            return [str(i) for i in ids], total

    def table_of(self, record_type: str) -> sa.Table:
        """The SQL table of a record type (for list filters)."""
        return self.metadata.tables[self._record_type(record_type).table]

    def record_type(self, name: str) -> RecordType:
        """The record type called ``name`` (case-insensitive); ``INVALID_RCRD_TYPE`` if unknown."""
        return self._record_type(name)

    # ------------------------------------------------------------------------------------------------
    # operations behind the activity simulator
    def fulfill_sales_order(self, sales_order_id: str, *, tracking_numbers: list[str] | None = None) -> str:
        """Ship every unfulfilled quantity of a sales order; returns the item fulfilment's internal id."""
        order_type = self.schema.record_types["salesOrder"]
        with self.transaction() as conn:
            order = self._row(conn, order_type, internal_id=sales_order_id)
            open_lines = [
                line
                for line in self._lines(conn, order["id"])
                if (line["quantity"] or 0) > (line["quantityshiprecv"] or 0)
            ]
            if not open_lines or order["status"] in ("SalesOrd:C", "SalesOrd:H"):
                raise NetSuiteError("USER_ERROR", "You have no lines to fulfill on this order.")
            fields = {
                "entity": {"id": str(order["entity"])},
                "memo": f"Fulfilment of {order['tranid']}",
                "item": {
                    "items": [
                        {
                            "item": {"id": str(line["item"])},
                            "quantity": line["quantity"] - (line["quantityshiprecv"] or 0),
                            "orderLine": line["linesequencenumber"],
                        }
                        for line in open_lines
                    ]
                },
            }
            if tracking_numbers:
                fields["trackingNumbers"] = ",".join(tracking_numbers)
            if order["shipmethod"] is not None:
                fields["shipMethod"] = {"id": str(order["shipmethod"])}
            fulfilment_id = self._create(
                conn, self.schema.record_types["itemFulfillment"], fields, None, created_from=order["id"]
            )
            lines = self.metadata.tables["transactionline"]
            for line in open_lines:
                conn.execute(lines.update().where(lines.c.id == line["id"]).values(quantityshiprecv=line["quantity"]))
            self._link(conn, order["id"], fulfilment_id, "ShipRcpt", None)
            self._refresh_order_status(conn, order["id"])
            return str(fulfilment_id)

    def bill_sales_order(self, sales_order_id: str) -> str:
        """Invoice every fulfilled but unbilled quantity of a sales order; returns the invoice's internal id."""
        order_type = self.schema.record_types["salesOrder"]
        with self.transaction() as conn:
            order = self._row(conn, order_type, internal_id=sales_order_id)
            billable = [
                line
                for line in self._lines(conn, order["id"])
                if (line["quantityshiprecv"] or 0) > (line["quantitybilled"] or 0)
            ]
            if not billable:
                raise NetSuiteError("USER_ERROR", "There are no fulfilled lines to bill on this order.")
            invoice_lines = []
            for line in billable:
                item = {
                    "item": {"id": str(line["item"])},
                    "quantity": line["quantityshiprecv"] - (line["quantitybilled"] or 0),
                    "rate": line["rate"],
                    "orderLine": line["linesequencenumber"],
                }
                invoice_lines.append(item | json.loads(line["_extra"] or "{}"))
            fields: dict[str, Any] = {
                "entity": {"id": str(order["entity"])},
                "otherRefNum": order["otherrefnum"],
                "item": {"items": invoice_lines},
            }
            for name, column in (("terms", "terms"), ("subsidiary", "subsidiary"), ("currency", "currency")):
                if order[column] is not None:
                    fields[name] = {"id": str(order[column])}
            invoice_id = self._create(conn, self.schema.record_types["invoice"], fields, None, created_from=order["id"])
            lines = self.metadata.tables["transactionline"]
            for line in billable:
                conn.execute(
                    lines.update().where(lines.c.id == line["id"]).values(quantitybilled=line["quantityshiprecv"])
                )
            self._link(conn, order["id"], invoice_id, "OrdBill", None)
            self._refresh_order_status(conn, order["id"])
            return str(invoice_id)

    def credit_invoice(self, invoice_id: str, *, items: list[dict] | None = None, memo: str | None = None) -> str:
        """A credit memo created from an invoice (returns, allowances); returns its id.

        Without ``items`` every invoice line is credited in full, as NetSuite's transform copies them."""
        invoice_type = self.schema.record_types["invoice"]
        with self.transaction() as conn:
            invoice = self._row(conn, invoice_type, internal_id=invoice_id)
            if items is None:
                items = [
                    {"item": {"id": str(line["item"])}, "quantity": line["quantity"], "rate": line["rate"]}
                    for line in self._lines(conn, invoice["id"])
                ]
            fields = {
                "entity": {"id": str(invoice["entity"])},
                "memo": memo or f"Credit for {invoice['tranid']}",
                "item": {"items": items},
            }
            memo_id = self._create(
                conn, self.schema.record_types["creditMemo"], fields, None, created_from=invoice["id"]
            )
            return str(memo_id)

    def refund_credit_memo(self, credit_memo_id: str, *, amount: float | None = None) -> str:
        """A customer refund paying out (part of) a credit memo's amount remaining; returns the refund's id."""
        memo_type = self.schema.record_types["creditMemo"]
        with self.transaction() as conn:
            memo = self._row(conn, memo_type, internal_id=credit_memo_id)
            fields = {
                "customer": {"id": str(memo["entity"])},
                "apply": {
                    "items": [
                        {
                            "doc": {"id": str(memo["id"])},
                            "apply": True,
                            "amount": amount if amount is not None else memo["foreignamountunpaid"],
                        }
                    ]
                },
            }
            return str(self._create(conn, self.schema.record_types["customerRefund"], fields, None))

    # ------------------------------------------------------------------------------------------------
    # reading rows
    def _record_type(self, name: str) -> RecordType:
        record = self.schema.record_type(name)
        if record is None:
            raise NetSuiteError("INVALID_RCRD_TYPE", f"Invalid record type: {name}.")
        return record

    def _type_filter(self, record: RecordType, table: sa.Table) -> sa.ColumnElement:
        if record.is_transaction:
            return table.c.type == record.type_code
        if record.fixed:
            return sa.and_(*(table.c[column] == value for column, value in record.fixed.items()))
        return sa.true()

    def _find(
        self, conn: sa.Connection, record: RecordType, *, internal_id: str | None = None, external_id: str | None = None
    ) -> sa.RowMapping | None:
        table = self.metadata.tables[record.table]
        if internal_id is not None:
            if not str(internal_id).lstrip("-").isdigit():
                return None
            key = table.c.id == int(internal_id)
        else:
            key = table.c.externalid == external_id
        return conn.execute(sa.select(table).where(key, self._type_filter(record, table))).mappings().first()

    def _row(
        self, conn: sa.Connection, record: RecordType, *, internal_id: str | None = None, external_id: str | None = None
    ) -> sa.RowMapping:
        if internal_id is None and external_id is None:
            raise NetSuiteError("USER_ERROR", "An internalId or externalId is required.")
        row = self._find(conn, record, internal_id=internal_id, external_id=external_id)
        if row is None:
            key = f"id={internal_id}" if internal_id is not None else f"externalid={external_id}"
            raise _not_found(record.name, key)
        return row

    def _lines(self, conn: sa.Connection, transaction_id: int) -> list[sa.RowMapping]:
        lines = self.metadata.tables["transactionline"]
        query = sa.select(lines).where(lines.c.transaction == transaction_id, lines.c.mainline == "F")
        return list(conn.execute(query.order_by(lines.c.linesequencenumber)).mappings())

    def _applications(self, conn: sa.Connection, transaction_id: int) -> list[sa.RowMapping]:
        links = self.metadata.tables["nexttransactionlinelink"]
        query = sa.select(links).where(links.c.nextdoc == transaction_id, links.c.linktype.in_(("Payment", "Refund")))
        return list(conn.execute(query.order_by(links.c.id)).mappings())

    # ------------------------------------------------------------------------------------------------
    # writing rows
    def _create(
        self,
        conn: sa.Connection,
        record: RecordType,
        fields: dict,
        external_id: str | None,
        *,
        created_from: int | None = None,
    ) -> int:
        if external_id is not None:
            self._check_external_id(external_id)
            if self._find(conn, record, external_id=external_id) is not None:
                raise NetSuiteError(
                    "DUP_RCRD", f"This record already exists. A {record.name} with externalId {external_id} exists."
                )
        values, extra = self._body_values(conn, record, fields, creating=True)
        now = self._now()
        values |= {"externalid": external_id, "lastmodifieddate": now, record.created_field.lower(): now}
        values |= record.fixed
        if record.name == "customer" and not values.get("entityid"):
            values["entityid"] = values["companyname"]  # NetSuite's default without auto-numbering
        if record.is_transaction:
            values |= self._new_transaction_values(conn, record, values, created_from)
        table = self.metadata.tables[record.table]
        new_id = conn.execute(table.insert().values(**values, _extra=json.dumps(extra))).inserted_primary_key[0]
        if record.lines:
            self._write_lines(conn, record, new_id, values, fields.get(record.lines), creating=True)
        if record.has_apply:
            self._write_applications(conn, record, new_id, values, fields.get("apply"), creating=True)
        if record.is_transaction:
            self._refresh_totals(conn, record, new_id)
        return new_id

    def _update(self, conn: sa.Connection, record: RecordType, row: sa.RowMapping, fields: dict) -> None:
        values, extra = self._body_values(conn, record, fields, creating=False)
        merged = {k: v for k, v in (json.loads(row["_extra"] or "{}") | extra).items() if v is not None}
        if "externalId" in fields:
            external_id = fields["externalId"]
            if external_id is not None and external_id != row["externalid"]:
                self._check_external_id(external_id)
                if self._find(conn, record, external_id=external_id) is not None:
                    raise NetSuiteError("DUP_RCRD", f"This record already exists. externalId {external_id} is taken.")
            values["externalid"] = external_id
        if record.name == "customer" and values.get("parent") is not None and values["parent"] == row["id"]:
            raise NetSuiteError("INVALID_KEY_OR_REF", "A customer cannot be its own parent.", "parent")
        table = self.metadata.tables[record.table]
        conn.execute(
            table.update()
            .where(table.c.id == row["id"])
            .values(**values, _extra=json.dumps(merged), lastmodifieddate=self._now())
        )
        current = {**row, **values}
        if record.lines and fields.get(record.lines) is not None:
            self._write_lines(conn, record, row["id"], current, fields[record.lines], creating=False)
        if record.has_apply and fields.get("apply") is not None:
            self._write_applications(conn, record, row["id"], current, fields["apply"], creating=False)
        if record.is_transaction:
            self._refresh_totals(conn, record, row["id"])

    @staticmethod
    def _check_external_id(external_id: str) -> None:
        if not EXTERNAL_ID.match(str(external_id)):
            raise NetSuiteError("INVALID_FLD_VALUE", f"Invalid externalId: {external_id}.", "externalId")

    def _body_values(
        self, conn: sa.Connection, record: RecordType, fields: dict, *, creating: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split REST body fields into column values (validated) and extra JSON; check required fields."""
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        sublists = {record.lines, "apply" if record.has_apply else None} - {None}
        for name, value in fields.items():
            if name in ("id", "links", "externalId", *sublists):
                continue
            field_def = record.fields.get(name)
            if field_def is None:
                if CUSTOM_FIELD.match(name):
                    values[self._custom_column(conn, record.table, name)] = _custom_scalar(value)
                extra[name] = value  # kept as given; None clears it
                continue
            if field_def.read_only:
                continue  # NetSuite ignores read-only fields on write
            values[field_def.column] = self._column_value(conn, field_def, value, path=name)
        if creating:
            missing = [f.name for f in record.fields.values() if f.required and values.get(f.column) is None]
            if missing:
                raise NetSuiteError("USER_ERROR", f"Please enter value(s) for: {', '.join(missing)}", missing[0])
        else:
            cleared = [
                f.name for f in record.fields.values() if f.required and f.column in values and values[f.column] is None
            ]
            if cleared:
                raise NetSuiteError("USER_ERROR", f"Please enter value(s) for: {', '.join(cleared)}", cleared[0])
        return values, extra

    def _custom_column(self, conn: sa.Connection, table_name: str, name: str) -> str:
        column = name.lower()
        table = self.metadata.tables[table_name]
        # Custom fields exist in a NetSuite account before they are used; the sandbox defines them on first use.
        # Ask SQLite, not the metadata: a rolled-back request takes its ALTER TABLE with it.
        existing = {row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table_name}")')}
        if column not in existing:
            conn.exec_driver_sql(f'ALTER TABLE "{table_name}" ADD COLUMN "{column}" TEXT')
        if column not in table.c:
            table.append_column(sa.Column(column, sa.Text))
        return column

    def _column_value(self, conn: sa.Connection, field_def: FieldDef, value: Any, *, path: str) -> Any:
        if value is None:
            return None
        try:
            if field_def.kind == "ref":
                return self._reference(conn, field_def, value, path=path)
            if field_def.kind == "float":
                return float(value)
            if field_def.kind == "integer":
                return int(value)
            if field_def.kind == "boolean":
                if not isinstance(value, bool):
                    raise ValueError(value)
                return "T" if value else "F"
            if field_def.kind == "date":
                return self.time.parse_rest_date(str(value))
            if field_def.kind == "datetime":
                return self.time.store_instant(self.time.instant(str(value)))
        except (TypeError, ValueError, DateFormatError):
            raise NetSuiteError(
                "INVALID_FLD_VALUE", f"Invalid Field Value {value} for the following field: {field_def.name}", path
            ) from None
        return str(value)

    def _reference(self, conn: sa.Connection, field_def: FieldDef, value: Any, *, path: str) -> int | str:
        """The internal id a reference points at; ``INVALID_KEY_OR_REF`` if nothing is there."""
        if not isinstance(value, dict):
            value = {"id": str(value)}
        if field_def.to == "priceLevel" and str(value.get("id")) == "-1":
            return -1  # the "Custom" price level: the line's rate is used as given
        key = value.get("id") or value.get("externalId")
        if field_def.to == "transaction":
            row = self._transaction(conn, value.get("id"))
        elif value.get("id"):
            row = self._find(conn, self.schema.record_types[field_def.to or ""], internal_id=str(value["id"]))
        else:
            row = self._find(conn, self.schema.record_types[field_def.to or ""], external_id=value.get("externalId"))
        if row is None:
            raise NetSuiteError("INVALID_KEY_OR_REF", f"Invalid {field_def.name} reference key {key}.", path)
        return row["id"]

    def _new_transaction_values(
        self, conn: sa.Connection, record: RecordType, values: dict, created_from: int | None
    ) -> dict[str, Any]:
        table = self.metadata.tables["transaction"]
        out: dict[str, Any] = {"type": record.type_code, "status": f"{record.type_code}:{record.initial_status}"}
        if not values.get("tranid"):
            count = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.type == record.type_code)
            ).scalar_one()
            out["tranid"] = f"{record.tran_id_prefix}{1001 + count}"
        if not values.get("trandate"):
            out["trandate"] = self.time.store_date(self.clock.now().astimezone(self.time.zone).date())
        if created_from is not None:
            out["createdfrom"] = created_from
        customers = self.metadata.tables["customer"]
        customer = conn.execute(sa.select(customers).where(customers.c.id == values.get("entity"))).mappings().first()
        if customer is not None:
            for column in ("subsidiary", "currency", "terms"):
                if (
                    column in table.c
                    and values.get(column) is None
                    and customer[column] is not None
                    and column in (f.column for f in record.fields.values())
                ):
                    out[column] = customer[column]
        if record.type_code == "CustInvc":
            terms = self.metadata.tables["term"]
            term_id = values.get("terms") or out.get("terms")
            days = (
                conn.execute(sa.select(terms.c.daysuntilnetdue).where(terms.c.id == term_id)).scalar() if term_id else 0
            )
            trandate = values.get("trandate") or out["trandate"]
            due = self.time.local_date(trandate) + timedelta(days=days or 0)
            out["duedate"] = self.time.store_date(due)
        return out

    def _write_lines(
        self, conn: sa.Connection, record: RecordType, transaction_id: int, body: dict, sublist: Any, *, creating: bool
    ) -> None:
        items = (sublist or {}).get("items") if isinstance(sublist, dict) else None
        if items is None:
            if creating and record.type_code in ("SalesOrd", "CustInvc", "CustCred", "CashRfnd", "ItemShip"):
                raise NetSuiteError("USER_ERROR", "You must enter at least one line item for this transaction.", "item")
            return
        lines = self.metadata.tables["transactionline"]
        previous = [] if creating else self._lines(conn, transaction_id)
        carried: set[int] = set()
        conn.execute(lines.delete().where(lines.c.transaction == transaction_id, lines.c.mainline == "F"))
        if not items and record.type_code != "ItemShip":
            raise NetSuiteError("USER_ERROR", "You must enter at least one line item for this transaction.", "item")
        items_type = self.schema.record_types["inventoryItem"]
        for index, item in enumerate(items):
            values: dict[str, Any] = {}
            extra: dict[str, Any] = {}
            for name, value in item.items():
                path = f"{record.lines}.items[{index}].{name}"
                field_def = self.schema.line_fields.get(name)
                if field_def is None:
                    if CUSTOM_FIELD.match(name):
                        values[self._custom_column(conn, "transactionline", name)] = _custom_scalar(value)
                    if name != "links":
                        extra[name] = value
                    continue
                if field_def.read_only and name != "orderLine":
                    continue
                values[field_def.column] = self._column_value(conn, field_def, value, path=path)
            for required in ("item", "quantity"):
                if values.get(self.schema.line_fields[required].column) is None:
                    raise NetSuiteError(
                        "USER_ERROR",
                        f"Please enter value(s) for: {required}",
                        f"{record.lines}.items[{index}].{required}",
                    )
            if index < len(previous) and previous[index]["item"] == values["item"]:
                values |= self._carry_progress(previous[index], values["quantity"], f"{record.lines}.items[{index}]")
                carried.add(index)
            if record.type_code != "ItemShip":  # fulfilments carry quantities, not amounts
                if values.get("rate") is None:
                    item_row = self._find(conn, items_type, internal_id=str(values["item"]))
                    values["rate"] = (item_row["baseprice"] if item_row is not None else None) or 0.0
                values["foreignamount"] = round(values["quantity"] * values["rate"], 2)
            conn.execute(
                lines.insert().values(
                    **values,
                    transaction=transaction_id,
                    mainline="F",
                    linesequencenumber=index + 1,
                    entity=body.get("entity"),
                    subsidiary=body.get("subsidiary"),
                    _extra=json.dumps(extra),
                )
            )
        for index, line in enumerate(previous):
            if index not in carried and (line["quantityshiprecv"] or 0) > 0:
                raise NetSuiteError(
                    "USER_ERROR", f"Line {index + 1} has been fulfilled and cannot be removed.", f"{record.lines}.items"
                )

    @staticmethod
    def _carry_progress(line: sa.RowMapping, quantity: float, path: str) -> dict[str, Any]:
        """Keep what was already shipped and billed on a line that is rewritten (replaceAll keeps progress)."""
        shipped = line["quantityshiprecv"] or 0
        if quantity < shipped:
            raise NetSuiteError(
                "USER_ERROR", f"The quantity cannot be less than the {shipped:g} already fulfilled.", f"{path}.quantity"
            )
        return {"quantityshiprecv": line["quantityshiprecv"], "quantitybilled": line["quantitybilled"]}

    def _write_applications(
        self, conn: sa.Connection, record: RecordType, transaction_id: int, body: dict, sublist: Any, *, creating: bool
    ) -> None:
        """Apply a payment to invoices, or a refund to credit memos, within their amounts remaining."""
        items = (sublist or {}).get("items") if isinstance(sublist, dict) else None
        links = self.metadata.tables["nexttransactionlinelink"]
        link_type, doc_type = ("Payment", "CustInvc") if record.type_code == "CustPymt" else ("Refund", "CustCred")
        previous = {link["previousdoc"] for link in self._applications(conn, transaction_id)}
        conn.execute(links.delete().where(links.c.nextdoc == transaction_id))
        for doc_id in previous:
            self._refresh_balance(conn, doc_id)
        budget = body.get("foreigntotal") if record.type_code == "CustPymt" else None
        applied_total = 0.0
        for index, item in enumerate(items or []):
            path = f"apply.items[{index}]"
            if item.get("apply") is False:
                continue
            doc = item.get("doc") or {}
            doc_row = self._transaction(conn, doc.get("id"))
            if doc_row is None or doc_row["type"] != doc_type:
                raise NetSuiteError("INVALID_KEY_OR_REF", f"Invalid doc reference key {doc.get('id')}.", f"{path}.doc")
            if doc_row["entity"] != body.get("entity"):
                raise NetSuiteError(
                    "INVALID_KEY_OR_REF",
                    f"Transaction {doc_row['tranid']} does not belong to customer {body.get('entity')}.",
                    f"{path}.doc",
                )
            remaining = doc_row["foreignamountunpaid"] or 0.0
            amount = item.get("amount")
            if amount is None:
                amount = remaining if budget is None else min(remaining, budget - applied_total)
            try:
                amount = round(float(amount), 2)
            except (TypeError, ValueError):
                raise NetSuiteError(
                    "INVALID_FLD_VALUE",
                    f"Invalid Field Value {amount} for the following field: amount",
                    f"{path}.amount",
                ) from None
            if amount <= 0:
                continue  # amount 0 un-applies, like apply: false
            if amount > remaining + _CENT:
                raise NetSuiteError(
                    "INVALID_FLD_VALUE",
                    f"The amount applied to {doc_row['tranid']} ({amount:.2f}) exceeds its amount remaining "
                    f"({remaining:.2f}).",
                    f"{path}.amount",
                )
            applied_total += amount
            if budget is not None and applied_total > budget + _CENT:
                raise NetSuiteError(
                    "INVALID_FLD_VALUE",
                    f"The total applied ({applied_total:.2f}) exceeds the payment amount ({budget:.2f}).",
                    f"{path}.amount",
                )
            conn.execute(
                links.insert().values(
                    previousdoc=doc_row["id"],
                    nextdoc=transaction_id,
                    linktype=link_type,
                    foreignamount=amount,
                    linkdate=self._now(),
                )
            )
            self._refresh_balance(conn, doc_row["id"])
        if record.type_code == "CustRfnd" and applied_total <= 0:
            raise NetSuiteError("USER_ERROR", "You must apply the refund to at least one credit.", "apply")

    def _transaction(self, conn: sa.Connection, internal_id: Any) -> sa.RowMapping | None:
        table = self.metadata.tables["transaction"]
        key = _int_or_none(internal_id)
        return None if key is None else conn.execute(sa.select(table).where(table.c.id == key)).mappings().first()

    def _link(self, conn: sa.Connection, previous: int, following: int, link_type: str, amount: float | None) -> None:
        links = self.metadata.tables["nexttransactionlinelink"]
        conn.execute(
            links.insert().values(
                previousdoc=previous, nextdoc=following, linktype=link_type, foreignamount=amount, linkdate=self._now()
            )
        )

    # ------------------------------------------------------------------------------------------------
    # derived amounts and statuses
    def _touch(self, conn: sa.Connection, transaction_id: int, **values: Any) -> None:
        table = self.metadata.tables["transaction"]
        current = conn.execute(sa.select(table).where(table.c.id == transaction_id)).mappings().one()
        changed = {k: v for k, v in values.items() if current[k] != v}
        if changed:
            conn.execute(
                table.update().where(table.c.id == transaction_id).values(**changed, lastmodifieddate=self._now())
            )

    def _refresh_totals(self, conn: sa.Connection, record: RecordType, transaction_id: int) -> None:
        lines = self._lines(conn, transaction_id)
        applications = self._applications(conn, transaction_id)
        applied = round(sum(a["foreignamount"] or 0 for a in applications), 2)
        if record.type_code == "CustPymt":
            row = self._transaction(conn, transaction_id)
            total = row["foreigntotal"] or 0.0
            self._touch(conn, transaction_id, foreignamountpaid=applied, foreignamountunpaid=round(total - applied, 2))
        elif record.type_code == "CustRfnd":
            self._touch(conn, transaction_id, foreigntotal=applied)
        elif record.type_code in ("CustInvc", "CustCred"):
            self._touch(conn, transaction_id, foreigntotal=round(sum(line["foreignamount"] or 0 for line in lines), 2))
            self._refresh_balance(conn, transaction_id)
        elif record.type_code in ("SalesOrd", "CashRfnd"):
            self._touch(conn, transaction_id, foreigntotal=round(sum(line["foreignamount"] or 0 for line in lines), 2))
        if record.type_code == "SalesOrd":
            self._refresh_order_status(conn, transaction_id)
        self._write_mainline(conn, transaction_id)

    def _write_mainline(self, conn: sa.Connection, transaction_id: int) -> None:
        """The transaction's header line (``mainline = 'T'``): entity, subsidiary, source and total, as in NetSuite.

        Item lines are ``mainline = 'F'``; queries over lines filter on it, as they must in NetSuite."""
        lines = self.metadata.tables["transactionline"]
        header = self._transaction(conn, transaction_id)
        values = {
            "entity": header["entity"],
            "subsidiary": header["subsidiary"],
            "createdfrom": header["createdfrom"],
            "foreignamount": header["foreigntotal"],
            "memo": header["memo"],
        }
        mainline = (lines.c.transaction == transaction_id) & (lines.c.mainline == "T")
        if conn.execute(lines.update().where(mainline).values(**values)).rowcount == 0:
            conn.execute(
                lines.insert().values(
                    **values, transaction=transaction_id, mainline="T", linesequencenumber=0, _extra="{}"
                )
            )

    def _refresh_balance(self, conn: sa.Connection, doc_id: int) -> None:
        """An invoice's or credit memo's amount remaining and status from what is applied against it."""
        links = self.metadata.tables["nexttransactionlinelink"]
        doc = self._transaction(conn, doc_id)
        used = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(links.c.foreignamount), 0.0)).where(
                links.c.previousdoc == doc_id, links.c.linktype.in_(("Payment", "Refund"))
            )
        ).scalar_one()
        total = doc["foreigntotal"] or 0.0
        remaining = round(total - used, 2)
        settled = remaining <= _CENT and total > 0
        self._touch(
            conn,
            doc_id,
            foreignamountpaid=round(used, 2),
            foreignamountunpaid=max(remaining, 0.0),
            status=f"{doc['type']}:{'B' if settled else 'A'}",
        )

    def _refresh_order_status(self, conn: sa.Connection, order_id: int) -> None:
        order = self._transaction(conn, order_id)
        if order["status"] in ("SalesOrd:A", "SalesOrd:C", "SalesOrd:H"):
            return
        lines = self._lines(conn, order_id)
        ordered = sum(line["quantity"] or 0 for line in lines)
        shipped = sum(line["quantityshiprecv"] or 0 for line in lines)
        billed = sum(line["quantitybilled"] or 0 for line in lines)
        if shipped == 0:
            letter = "B"
        elif shipped < ordered:
            letter = "E" if billed >= shipped else "D"
        else:
            letter = "G" if billed >= ordered else "F"
        self._touch(conn, order_id, status=f"SalesOrd:{letter}")

    # ------------------------------------------------------------------------------------------------
    # REST JSON shape
    def _ref_json(self, conn: sa.Connection, field_def: FieldDef, value: Any) -> dict[str, str]:
        if field_def.to == "priceLevel" and value == -1:
            return {"id": "-1", "refName": "Custom"}
        out = {"id": str(value)}
        if field_def.to == "transaction":
            row = self._transaction(conn, value)
            if row is not None:
                out["refName"] = f"{self.schema.transaction_types[row['type']]['name']} #{row['tranid']}"
            return out
        target = self.schema.record_types[field_def.to or ""]
        if target.ref_name:
            row = self._find(conn, target, internal_id=str(value))
            if row is not None:
                out["refName"] = str(row[target.fields[target.ref_name].column])
        return out

    def _value_json(self, conn: sa.Connection, field_def: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        if field_def.kind == "ref":
            return self._ref_json(conn, field_def, value)
        if field_def.kind == "status":
            code, _, letter = value.partition(":")
            return {"id": letter, "refName": self.schema.transaction_types[code]["statuses"][letter]}
        if field_def.kind == "boolean":
            return value == "T"
        if field_def.kind == "date":
            return self.time.rest_date(value)
        return value

    def _to_json(self, conn: sa.Connection, record: RecordType, row: sa.RowMapping) -> dict[str, Any]:
        out: dict[str, Any] = {"id": str(row["id"])}
        if row["externalid"] is not None:
            out["externalId"] = row["externalid"]
        for name, field_def in record.fields.items():
            value = self._value_json(conn, field_def, row[field_def.column])
            if value is not None:
                out[name] = value
        out |= json.loads(row["_extra"] or "{}")
        out[record.created_field] = row[record.created_field.lower()]
        out["lastModifiedDate"] = row["lastmodifieddate"]
        if record.lines:
            out[record.lines] = {"items": [self._line_json(conn, line) for line in self._lines(conn, row["id"])]}
        if record.has_apply:
            out["apply"] = {"items": [self._apply_json(conn, link) for link in self._applications(conn, row["id"])]}
        return out

    def _line_json(self, conn: sa.Connection, line: sa.RowMapping) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field_def in self.schema.line_fields.items():
            value = self._value_json(conn, field_def, line[field_def.column])
            if value is not None:
                out[name] = value
        return out | json.loads(line["_extra"] or "{}")

    def _apply_json(self, conn: sa.Connection, link: sa.RowMapping) -> dict[str, Any]:
        doc = self._transaction(conn, link["previousdoc"])
        return {
            "doc": self._ref_json(conn, self.schema.apply_fields["doc"], link["previousdoc"]),
            "apply": True,
            "amount": link["foreignamount"],
            "refNum": doc["tranid"],
            "total": doc["foreigntotal"],
            "due": doc["foreignamountunpaid"],
        }


def _custom_scalar(value: Any) -> Any:
    """A custom field's value as its SuiteQL column holds it (select fields by id, checkboxes as T/F)."""
    if isinstance(value, dict):
        return value.get("id")
    if isinstance(value, bool):
        return "T" if value else "F"
    return value


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
