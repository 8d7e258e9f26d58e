"""Run a parsed SOQL query against the backend: resolve names against the org, filter, sort, shape results.

Names are checked before any record is read, so a typo is an INVALID_FIELD / INVALID_TYPE error with
Salesforce's caret message, never an empty result. Text comparisons are case-insensitive, as in SOQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sfns_pipeline.sandbox.salesforce import errors
from sfns_pipeline.sandbox.salesforce.backend import SalesforceBackend
from sfns_pipeline.sandbox.salesforce.ids import normalize_id
from sfns_pipeline.sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, ChildRelationship, FieldDef, ObjectDef
from sfns_pipeline.sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    CountAll,
    FieldPath,
    InList,
    Like,
    Literal,
    Negation,
    Query,
    SubQuery,
    malformed,
    parse,
)
from sfns_pipeline.sandbox.salesforce.values import parse_date, parse_datetime

_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to append "
    "the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
)
_NO_RELATION = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom relationship, be "
    "sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call "
    "for the appropriate names."
)
_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the "
    "'__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
)


@dataclass(frozen=True)
class Resolved:
    """A field path checked against the org: the lookups to follow, then the field."""

    path: FieldPath
    hops: tuple[tuple[FieldDef, ObjectDef], ...]  # (lookup field, parent object) per relationship
    obj: ObjectDef  # object that owns ``field``
    field: FieldDef


@dataclass
class QueryResult:
    """All matching records, rendered; the service pages them."""

    total_size: int
    records: list[dict[str, Any]]


class QueryEngine:
    """Runs SOQL for one backend."""

    def __init__(self, backend: SalesforceBackend) -> None:
        self.backend = backend
        self.org = backend.org

    def run(self, soql: str, *, include_deleted: bool, version: str) -> QueryResult:
        """Parse, check and execute ``soql``."""
        query = parse(soql)
        obj = self.org.object(query.sobject)
        if obj is None or obj.is_event:
            raise malformed(
                soql, query.sobject_line, query.sobject_column, _NO_TYPE.format(name=query.sobject), errors.InvalidType
            )
        plan = _Planner(self, soql).plan(query, obj)
        with self.backend.lock:
            rows = plan.select_rows(self.backend.records_of(obj.name), include_deleted)
            if plan.count_only:
                return QueryResult(len(rows), [])
            return QueryResult(len(rows), [plan.render(row, version, include_deleted) for row in rows])


@dataclass
class _Plan:
    engine: QueryEngine
    obj: ObjectDef
    query: Query
    columns: list[Any]  # Resolved | (child _Plan, ChildRelationship)
    order: list[tuple[Resolved, Any]]  # (field, OrderItem)
    where: Any
    count_only: bool
    _children: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # relationship -> parent id -> rows

    def select_rows(self, candidates: list[dict], include_deleted: bool) -> list[dict]:
        rows = [r for r in candidates if (include_deleted or not r["IsDeleted"]) and self._matches(r)]
        for resolved, item in reversed(self.order):
            with_values = [(self.engine_value(resolved, r), r) for r in rows]
            nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
            present = sorted(
                [pair for pair in with_values if pair[0] is not None],
                key=lambda pair: _sort_key(pair[0]),
                reverse=item.descending,
            )
            missing = [pair for pair in with_values if pair[0] is None]
            rows = [r for _, r in (present + missing if nulls_last else missing + present)]
        start = self.query.offset or 0
        end = None if self.query.limit is None else start + self.query.limit
        return rows[start:end]

    def _matches(self, record: dict) -> bool:
        return self.where is None or bool(self._eval(self.where, record))

    def _eval(self, node: Any, record: dict) -> bool:
        if isinstance(node, BoolOp):
            results = (self._eval(item, record) for item in node.items)
            return all(results) if node.op == "and" else any(results)
        if isinstance(node, Negation):
            return not self._eval(node.item, record)
        resolved, predicate = node
        return predicate(self.engine_value(resolved, record))

    def engine_value(self, resolved: Resolved, record: dict) -> Any:
        """The stored value at ``resolved`` for ``record`` (None along a null lookup)."""
        backend = self.engine.backend
        for lookup, _parent in resolved.hops:
            parent_id = record.get(lookup.name)
            record = backend.record(parent_id) if parent_id else None
            if record is None:
                return None
        return backend.value(resolved.obj, record, resolved.field)

    def render(self, record: dict, version: str, include_deleted: bool) -> dict[str, Any]:
        backend = self.engine.backend
        row: dict[str, Any] = {
            "attributes": {"type": self.obj.name, "url": backend.record_url(self.obj.name, record["Id"], version)}
        }
        for column in self.columns:
            if isinstance(column, Resolved):
                _place(row, column, record, backend, version)
            else:
                child_plan, relationship = column
                rows = child_plan.select_rows(self._children_of(relationship, record["Id"]), include_deleted)
                row[relationship.name] = (
                    {
                        "totalSize": len(rows),
                        "done": True,
                        "records": [child_plan.render(c, version, include_deleted) for c in rows],
                    }
                    if rows
                    else None
                )
        return row

    def _children_of(self, relationship: ChildRelationship, parent_id: str) -> list[dict]:
        """Child records of one parent, grouped once per query (one pass over the child type, not one per row)."""
        if relationship.name not in self._children:
            grouped: dict[str, list[dict]] = {}
            for child in self.engine.backend.records_of(relationship.child):
                grouped.setdefault(child.get(relationship.field), []).append(child)
            self._children[relationship.name] = grouped
        return self._children[relationship.name].get(parent_id, [])


def _place(row: dict, resolved: Resolved, record: dict, backend: SalesforceBackend, version: str) -> None:
    """Put a (possibly nested) column into a result row: ``Account.Name`` becomes ``{"Account": {"Name": ...}}``."""
    target = row
    for lookup, parent_obj in resolved.hops:
        parent_id = record.get(lookup.name) if record is not None else None
        parent = backend.record(parent_id) if parent_id else None
        name = lookup.relationship_name
        if parent is None:
            target.setdefault(name, None)
            return
        if target.get(name) is None:
            url = backend.record_url(parent_obj.name, parent_id, version)
            target[name] = {"attributes": {"type": parent_obj.name, "url": url}}
        target, record = target[name], parent
    target[resolved.field.name] = backend.value(resolved.obj, record, resolved.field)


class _Planner:
    """Resolves every name of a query against the org and compiles the WHERE clause into predicates."""

    def __init__(self, engine: QueryEngine, soql: str) -> None:
        self.engine = engine
        self.org = engine.org
        self.soql = soql

    def plan(self, query: Query, obj: ObjectDef) -> _Plan:
        columns: list[Any] = []
        count_only = False
        for item in query.select:
            if isinstance(item, CountAll):
                count_only = True
            elif isinstance(item, SubQuery):
                columns.append(self._child(item.query, obj))
            else:
                columns.append(self.resolve(item, obj))
        order = [(self.resolve(item.field, obj), item) for item in query.order_by]
        where = self._compile(query.where, obj) if query.where is not None else None
        return _Plan(self.engine, obj, query, columns, order, where, count_only)

    def _child(self, query: Query, parent: ObjectDef):
        relationship = parent.child(query.sobject)
        if relationship is None:
            raise malformed(
                self.soql,
                query.sobject_line,
                query.sobject_column,
                f"Didn't understand relationship '{query.sobject}' in FROM part of query call. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom relationship name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
                errors.InvalidType,
            )
        child_obj = self.org.object(relationship.child)
        return self.plan(query, child_obj), relationship

    def resolve(self, path: FieldPath, obj: ObjectDef) -> Resolved:
        parts = list(path.parts)
        if len(parts) > 1 and parts[0].lower() == obj.name.lower() and obj.relationship(parts[0]) is None:
            parts = parts[1:]  # "Account.Name" in a query FROM Account names the object itself
        hops: list[tuple[FieldDef, ObjectDef]] = []
        current = obj
        for part in parts[:-1]:
            lookup = current.relationship(part)
            if lookup is None:
                raise self._error(path, _NO_RELATION.format(name=part))
            current = self.org.object(lookup.reference_to)
            hops.append((lookup, current))
        fdef = current.field(parts[-1])
        if fdef is None:
            raise self._error(path, _NO_COLUMN.format(name=parts[-1], entity=current.name))
        return Resolved(path, tuple(hops), current, fdef)

    def _error(self, path: FieldPath, detail: str) -> errors.SalesforceError:
        return malformed(self.soql, path.line, path.column, detail, errors.InvalidField)

    def _compile(self, node: Any, obj: ObjectDef) -> Any:
        if isinstance(node, BoolOp):
            return BoolOp(node.op, tuple(self._compile(item, obj) for item in node.items))
        if isinstance(node, Negation):
            return Negation(self._compile(node.item, obj))
        resolved = self.resolve(node.field, obj)
        if isinstance(node, Comparison):
            return resolved, self._comparison(resolved, node.op, node.value)
        if isinstance(node, InList):
            values = [self._operand(resolved, value) for value in node.values]
            keys, kind = {_key(v) for v in values}, resolved.field.type
            if node.negated:
                return resolved, lambda actual: actual is not None and _key(_typed(kind, actual)) not in keys
            return resolved, lambda actual: actual is not None and _key(_typed(kind, actual)) in keys
        if isinstance(node, Like):
            if resolved.field.type not in TEXT_TYPES | {"id", "reference"}:
                raise self._error(node.field, f"invalid operator on field '{resolved.field.name}'")
            pattern = _like_regex(self._operand(resolved, node.pattern))
            return resolved, lambda actual: actual is not None and bool(pattern.match(str(actual)))
        raise AssertionError(node)  # pragma: no cover - the grammar has no other conditions

    def _comparison(self, resolved: Resolved, op: str, literal: Literal):
        kind = resolved.field.type
        if literal.kind == "date_literal" and kind in ("date", "datetime"):
            start, end = _date_range(literal, self.engine.backend.clock.now(), self._literal_error(resolved, literal))
            return _range_predicate(kind, op, start, end)
        operand = self._operand(resolved, literal)
        if operand is None:
            if op not in ("=", "!="):
                raise self._error(resolved.path, f"invalid operator on null value for field '{resolved.field.name}'")
            return (lambda actual: actual is None) if op == "=" else (lambda actual: actual is not None)
        wanted = _key(operand)
        compare = _OPERATORS[op]
        return lambda actual: actual is not None and compare(_key(_typed(kind, actual)), wanted)

    def _literal_error(self, resolved: Resolved, literal: Literal) -> errors.SalesforceError:
        return self._error(resolved.path, f"unexpected token: '{literal.value}'")

    def _operand(self, resolved: Resolved, literal: Literal) -> Any:
        """The literal converted to the field's type; INVALID_FIELD when the types cannot meet."""
        fdef = resolved.field
        kind = fdef.type
        if literal.kind == "null":
            return None
        expected = {
            "boolean": ("boolean",),
            "date": ("date",),
            "datetime": ("datetime",),
        }.get(kind, ("number",) if kind in NUMBER_TYPES else ("string",))
        if literal.kind not in expected:
            quoted = expected[0] == "string"
            type_name = {"number": "double"}.get(expected[0], expected[0])
            raise self._error(
                resolved.path,
                f"value of filter criterion for field '{fdef.name}' must be of type {type_name} and should "
                f"{'' if quoted else 'not '}be enclosed in quotes",
            )
        if kind in ("id", "reference"):
            normalized = normalize_id(literal.value)
            if normalized is None:
                raise malformed(
                    self.soql,
                    resolved.path.line,
                    resolved.path.column,
                    f"invalid ID field: {literal.value}",
                    error_code="INVALID_QUERY_FILTER_OPERATOR",
                )
            return normalized
        if kind == "date":
            return parse_date(literal.value)
        if kind == "datetime":
            return parse_datetime(literal.value)
        return literal.value


def _typed(kind: str, stored: Any) -> Any:
    if kind == "date":
        return parse_date(stored)
    if kind == "datetime":
        return parse_datetime(stored)
    return stored


def _key(value: Any) -> Any:
    """Comparison key: text compares case-insensitively (ids are normalized before they get here)."""
    return value.lower() if isinstance(value, str) else value


def _sort_key(value: Any) -> Any:
    if isinstance(value, str):
        return (0, value.lower())
    if isinstance(value, bool):
        return (1, value)
    return (1, value)


_OPERATORS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _like_regex(pattern: str) -> re.Pattern:
    escaped = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{escaped}$", re.IGNORECASE | re.DOTALL)


def _date_range(literal: Literal, now: datetime, error: errors.SalesforceError) -> tuple[datetime, datetime]:
    """The [start, end) UTC range a date literal like TODAY or LAST_N_DAYS:7 stands for."""
    today = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    day = timedelta(days=1)
    n = literal.n or 0
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    ranges = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today, today + (n + 1) * day),
        "THIS_MONTH": (month_start, next_month),
        "LAST_MONTH": ((month_start - day).replace(day=1), month_start),
        "THIS_YEAR": (today.replace(month=1, day=1), today.replace(year=today.year + 1, month=1, day=1)),
    }
    if literal.value not in ranges or (literal.value.endswith("_N_DAYS") and literal.n is None):
        raise error
    return ranges[literal.value]


def _range_predicate(kind: str, op: str, start: datetime, end: datetime):
    if kind == "date":
        start_value, end_value = start.date(), end.date()

        def convert(stored):
            return parse_date(stored)
    else:
        start_value, end_value = start, end

        def convert(stored):
            return parse_datetime(stored)

    tests = {
        "=": lambda v: start_value <= v < end_value,
        "!=": lambda v: not start_value <= v < end_value,
        "<": lambda v: v < start_value,
        "<=": lambda v: v < end_value,
        ">": lambda v: v >= end_value,
        ">=": lambda v: v >= start_value,
    }
    test = tests[op]
    return lambda actual: actual is not None and test(convert(actual))
