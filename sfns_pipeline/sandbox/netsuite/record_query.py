"""The REST record API's ``q`` filter: ``<field> <OPERATOR> <value>`` joined by AND / OR, with parentheses.

Dates are written in the account's date-format preference (``lastModifiedDate ON_OR_AFTER "1/15/2024"``),
not ISO, and compare at day granularity in the account's time zone; anything else is NetSuite's
``Unparseable date``. Operators as NetSuite documents them; ``_NOT`` negates any of them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from sfns_pipeline.sandbox.netsuite.schema import RecordType
from sfns_pipeline.sandbox.netsuite.timefmt import AccountTime, DateFormatError

_TOKEN = re.compile(r'\s*(?:([()\[\],])|"((?:[^"\\]|\\.)*)"|([^\s()\[\],"]+))')
_NUMBER_OPS = {
    "EQUAL": lambda c, v: c == v[0],
    "GREATER": lambda c, v: c > v[0],
    "GREATER_OR_EQUAL": lambda c, v: c >= v[0],
    "LESS": lambda c, v: c < v[0],
    "LESS_OR_EQUAL": lambda c, v: c <= v[0],
    "BETWEEN": lambda c, v: c.between(v[0], v[1]),
    "ANY_OF": lambda c, v: c.in_(v),
}
_STRING_OPS = {
    "IS": lambda c, v: sa.func.lower(c) == v[0].lower(),
    "CONTAIN": lambda c, v: sa.func.lower(c).contains(v[0].lower(), autoescape=True),
    "START_WITH": lambda c, v: sa.func.lower(c).startswith(v[0].lower(), autoescape=True),
    "END_WITH": lambda c, v: sa.func.lower(c).endswith(v[0].lower(), autoescape=True),
}


class RecordQueryError(ValueError):
    """An invalid ``q`` filter (REST 400 ``INVALID_PARAMETER`` on ``q``)."""


class _Parser:
    def __init__(self, text: str, record: RecordType, table: sa.Table, account_time: AccountTime) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise RecordQueryError(f"Invalid search query: unexpected text at {text[position:]!r}.")
            punct, quoted, word = match.groups()
            self.tokens.append(
                ("punct", punct) if punct else ("value", quoted) if quoted is not None else ("word", word)
            )
            position = match.end()
        self.position = 0
        self.record, self.table, self.time = record, table, account_time

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise RecordQueryError("Invalid search query: the filter ends too early.")
        self.position += 1
        return token

    def parse(self) -> sa.ColumnElement:
        condition = self.disjunction()
        if self.peek() is not None:
            raise RecordQueryError(f"Invalid search query: unexpected {self.peek()[1]!r}.")
        return condition

    def disjunction(self) -> sa.ColumnElement:
        parts = [self.conjunction()]
        while self.peek() == ("word", "OR"):
            self.take()
            parts.append(self.conjunction())
        return sa.or_(*parts) if len(parts) > 1 else parts[0]

    def conjunction(self) -> sa.ColumnElement:
        parts = [self.atom()]
        while self.peek() == ("word", "AND"):
            self.take()
            parts.append(self.atom())
        return sa.and_(*parts) if len(parts) > 1 else parts[0]

    def atom(self) -> sa.ColumnElement:
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("punct", ")"):
                raise RecordQueryError("Invalid search query: missing ')'.")
            return inner
        kind, field = self.take()
        if kind != "word":
            raise RecordQueryError(f"Invalid search query: expected a field name, got {field!r}.")
        _, operator = self.take()
        return self.condition(field, operator.upper())

    def values(self) -> list[str]:
        token = self.peek()
        if token is None or token in (("word", "AND"), ("word", "OR"), ("punct", ")")):
            return []
        if token == ("punct", "["):
            self.take()
            out = []
            while True:
                out.append(self.take()[1])
                separator = self.take()
                if separator == ("punct", "]"):
                    return out
                if separator != ("punct", ","):
                    raise RecordQueryError("Invalid search query: expected ',' or ']'.")
        return [self.take()[1]]

    def condition(self, field: str, operator: str) -> sa.ColumnElement:
        column, kind = self.column(field)
        negate = operator.endswith("_NOT")
        base = operator.removesuffix("_NOT")
        values = self.values()
        if base == "EMPTY":
            condition = column.is_(None) if kind != "string" else sa.or_(column.is_(None), column == "")
        elif kind in ("date", "datetime"):
            condition = self.date_condition(column, base, values)
        elif kind == "boolean":
            if base != "IS" or len(values) != 1 or values[0].lower() not in ("true", "false"):
                raise RecordQueryError(f"Invalid search query: {field} takes IS true or IS false.")
            condition = column == ("T" if values[0].lower() == "true" else "F")
        elif kind == "string":
            condition = self.apply(_STRING_OPS, base, column, values, field)
        else:
            try:
                numbers = [float(v) for v in values]
            except ValueError:
                raise RecordQueryError(f"Invalid search query: {field} takes numbers.") from None
            condition = self.apply(_NUMBER_OPS, base, column, numbers, field)
        return sa.not_(condition) if negate else condition

    @staticmethod
    def apply(operators: dict, operator: str, column: Any, values: list, field: str) -> sa.ColumnElement:
        if operator not in operators:
            raise RecordQueryError(f"Invalid search query: operator {operator} does not apply to {field}.")
        if not values or (operator == "BETWEEN" and len(values) != 2):
            raise RecordQueryError(f"Invalid search query: operator {operator} needs a value.")
        return operators[operator](column, values)

    def date_condition(self, column: Any, operator: str, values: list[str]) -> sa.ColumnElement:
        if len(values) != 1:
            raise RecordQueryError(f"Invalid search query: operator {operator} needs one date.")
        try:
            start = self.time.to_date(values[0])
        except DateFormatError as exc:
            raise RecordQueryError(str(exc)) from None
        following = self.time.store_date(self.time.local_date(start) + timedelta(days=1))
        conditions = {
            "ON": sa.and_(column >= start, column < following),
            "AFTER": column >= following,
            "ON_OR_AFTER": column >= start,
            "BEFORE": column < start,
            "ON_OR_BEFORE": column < following,
        }
        if operator not in conditions:
            raise RecordQueryError(f"Invalid search query: operator {operator} does not apply to dates.")
        return conditions[operator]

    def column(self, field: str) -> tuple[Any, str]:
        lowered = field.lower()
        builtin = {
            "id": ("id", "integer"),
            "externalid": ("externalid", "string"),
            "lastmodifieddate": ("lastmodifieddate", "datetime"),
            self.record.created_field.lower(): (self.record.created_field.lower(), "datetime"),
        }
        if lowered in builtin:
            name, kind = builtin[lowered]
            return self.table.c[name], kind
        for name, field_def in self.record.fields.items():
            if name.lower() == lowered:
                kind = "integer" if field_def.kind in ("ref", "float") else field_def.kind
                return self.table.c[field_def.column], kind
        raise RecordQueryError(f"Invalid search query: field {field} is not filterable on {self.record.name}.")


def parse_record_query(
    text: str | None, record: RecordType, table: sa.Table, account_time: AccountTime
) -> sa.ColumnElement | None:
    """The SQL condition for a ``q`` filter (None when there is no filter)."""
    if not text or not text.strip():
        return None
    return _Parser(text, record, table, account_time).parse()
