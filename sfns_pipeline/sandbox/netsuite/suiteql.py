"""SuiteQL: Oracle-dialect SELECTs over the account's tables, transpiled to SQLite with sqlglot.

The query is parsed with a SuiteQL flavour of sqlglot's Oracle dialect and rewritten on the syntax tree,
never with regexes:

- ``TO_CHAR`` / ``TO_DATE`` / ``TO_TIMESTAMP`` / ``TO_NUMBER`` / ``TRUNC`` keep their arguments as written
  (sqlglot's Oracle parser would turn a literal format model into strftime form, losing ``HH`` vs ``HH12``,
  ``Mon`` vs ``MON``, ...) and become functions registered on the SQLite connection that apply Oracle
  format models in the account's time zone (:mod:`.timefmt`); a format model may be a literal or a ``?``;
- ``SYSDATE``, ``CURRENT_DATE`` and ``CURRENT_TIMESTAMP`` are the sandbox clock's instant, fixed for the
  statement as Oracle fixes it; date arithmetic (``SYSDATE - 1``, ``SYSDATE - (1/24)``,
  ``lastmodifieddate + INTERVAL '2' HOUR``, ``date - date``) counts days on the account's wall clock, as
  Oracle ``DATE`` arithmetic does;
- ``a || b`` concatenates as Oracle does: a null operand counts as the empty string;
- ``BUILTIN.DF(column)`` becomes a scalar subquery for the display name of what the column refers to
  (``entity`` -> the customer's name, ``status`` -> ``Invoice : Open``, ...);
- unnamed expressions are named ``expr1``, ``expr2``, ... as NetSuite names them;
- ``FETCH FIRST n ROWS ONLY``, ``NVL``, ``COALESCE``, ``DECODE``, ``CASE``, ``UPPER``, ``ROUND``, ``ABS`` and ``?``
  parameters are sqlglot's work.

Results come back as NetSuite sends them: lowercase column names, every value a string, nulls left out,
dates in the account's display format.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.oracle import Oracle
from sqlglot.parsers.oracle import OracleParser

from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend
from sfns_pipeline.sandbox.netsuite.timefmt import STORAGE_PATTERN

MAX_PAGE = 1000
MAX_RESULTS = 100_000
_SQLITE_KEYWORDS = frozenset({"transaction", "action", "group", "order", "index", "key", "values", "plan", "query"})
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_FUNCTIONS = frozenset({"NS_SYSDATE", "NS_TO_DATE", "NS_DATE_ADD"})
_DAY_FRACTIONS = {"DAY": 1, "HOUR": 24, "MINUTE": 24 * 60, "SECOND": 24 * 60 * 60}
# Date and date-time columns every table keeps besides the fields declared in records.json.
_SYSTEM_DATE_COLUMNS = frozenset({"lastmodifieddate", "createddate", "datecreated", "linkdate"})


def _sandbox_function(name: str) -> Callable[[list], exp.Expression]:
    return lambda args: exp.Anonymous(this=name, expressions=args)


class SuiteQLDialect(Oracle):
    """Oracle as SuiteQL speaks it, parsed so that the sandbox's own functions see the arguments as written."""

    class Parser(OracleParser):
        FUNCTIONS = {
            **OracleParser.FUNCTIONS,
            "TO_CHAR": _sandbox_function("NS_TO_CHAR"),
            "TO_DATE": _sandbox_function("NS_TO_DATE"),
            "TO_TIMESTAMP": _sandbox_function("NS_TO_DATE"),
            "TO_NUMBER": _sandbox_function("NS_TO_NUMBER"),
            "TRUNC": _sandbox_function("NS_TRUNC"),
        }
        FUNCTION_PARSERS = {k: v for k, v in OracleParser.FUNCTION_PARSERS.items() if k != "TO_NUMBER"}
        NO_PAREN_FUNCTION_PARSERS = {
            **OracleParser.NO_PAREN_FUNCTION_PARSERS,
            "SYSDATE": lambda self: exp.Anonymous(this="NS_SYSDATE", expressions=[]),
        }


class SuiteQLError(Exception):
    """An invalid SuiteQL query (NetSuite: 400 ``INVALID_PARAMETER``, "Invalid search query...")."""


@dataclass(frozen=True)
class QueryPage:
    """One page of results plus what the response's paging fields need."""

    items: list[dict[str, str]]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        """Whether rows remain after this page within NetSuite's result cap."""
        return self.offset + len(self.items) < min(self.total, MAX_RESULTS)


def _display_targets(backend: NetSuiteBackend) -> dict[str, exp.Expression]:
    """Column name -> lookup of its display name for BUILTIN.DF (``__value__`` stands for the column)."""
    templates: dict[str, str] = {
        "status": "SELECT df.name FROM transactionstatus df WHERE df.id = __value__",
        "type": "SELECT df.name FROM transactiontype df WHERE df.id = __value__",
    }
    transaction_name = (
        "SELECT df_tt.name || ' #' || df_t.tranid FROM transaction df_t "
        "JOIN transactiontype df_tt ON df_tt.id = df_t.type WHERE df_t.id = __value__"
    )
    for column in ("createdfrom", "previousdoc", "nextdoc", "transaction"):
        templates[column] = transaction_name
    for field_def in _all_fields(backend):
        if field_def.kind != "ref" or field_def.to in (None, "transaction") or field_def.column in templates:
            continue
        target = backend.schema.record_types[field_def.to]
        if target.ref_name:
            display = target.fields[target.ref_name].column
            # Names come from records.json, never from a request.
            templates[field_def.column] = f"SELECT df.{display} FROM {target.table} df WHERE df.id = __value__"  # noqa: S608
    return {column: sqlglot.parse_one(sql, read="sqlite") for column, sql in templates.items()}


def _all_fields(backend: NetSuiteBackend) -> list:
    fields = [f for record in backend.schema.record_types.values() for f in record.fields.values()]
    return [*fields, *backend.schema.line_fields.values()]


def _date_columns(backend: NetSuiteBackend) -> frozenset[str]:
    """Columns holding dates, so that ``column - 1`` is date arithmetic rather than a number."""
    declared = {f.column for f in _all_fields(backend) if f.kind in ("date", "datetime")}
    return frozenset(declared | _SYSTEM_DATE_COLUMNS)


class SuiteQL:
    """Runs SuiteQL against a backend's database."""

    def __init__(self, backend: NetSuiteBackend) -> None:
        self.backend = backend
        self._display = _display_targets(backend)
        self._date_columns = _date_columns(backend)

    # -- transpiling --------------------------------------------------------------------------------
    def to_sqlite(self, query: str) -> exp.Query:
        """A SuiteQL query as an SQLite syntax tree; SuiteQLError if it is not a single SELECT SuiteQL accepts."""
        try:
            statements = sqlglot.parse(query, read=SuiteQLDialect)
        except sqlglot.errors.SqlglotError as exc:
            raise SuiteQLError(str(exc).splitlines()[0]) from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise SuiteQLError("Only a single SELECT statement is supported.")
        tree = statements[0]
        if tree.find(exp.With) is not None:
            raise SuiteQLError("WITH clauses are not supported.")
        # Children before parents (reversed pre-order), so `SYSDATE - 1 - 1` sees its inner sum rewritten.
        for node in reversed(list(tree.walk(bfs=False))):
            replacement = self._rewrite(node)
            if replacement is not node:
                node.replace(replacement)
        self._name_expressions(tree)
        return tree.transform(_quote_reserved)

    def _rewrite(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentDate | exp.CurrentTimestamp | exp.Localtimestamp | exp.Systimestamp):
            return exp.Anonymous(this="NS_SYSDATE", expressions=[])
        if isinstance(node, exp.DPipe):
            return exp.Anonymous(this="NS_CONCAT", expressions=[node.this, node.expression])
        if isinstance(node, exp.Add | exp.Sub):
            return self._date_arithmetic(node)
        if isinstance(node, exp.Dot) and _is_builtin_df(node):
            return self._display_name(node.expression.expressions[0])
        return node

    def _date_arithmetic(self, node: exp.Add | exp.Sub) -> exp.Expression:
        left, right = node.this, node.expression
        if isinstance(node, exp.Sub) and self._is_date(left) and self._is_date(right):
            return exp.Anonymous(this="NS_DAYS_BETWEEN", expressions=[left, right])
        if self._is_date(right) and isinstance(node, exp.Add):
            left, right = right, left
        if not self._is_date(left):
            return node
        days = _days(right)
        if isinstance(node, exp.Sub):
            days = exp.Neg(this=exp.Paren(this=days))
        return exp.Anonymous(this="NS_DATE_ADD", expressions=[left, days])

    def _is_date(self, node: exp.Expression) -> bool:
        if isinstance(node, exp.Paren | exp.Coalesce):
            return self._is_date(node.this)
        if isinstance(node, exp.Anonymous):
            name = str(node.this).upper()
            return name in _DATE_FUNCTIONS or (
                name == "NS_TRUNC" and bool(node.expressions) and self._is_date(node.expressions[0])
            )
        return isinstance(node, exp.Column) and node.name.lower() in self._date_columns

    def _display_name(self, value: exp.Expression) -> exp.Expression:
        column = value.name.lower() if isinstance(value, exp.Column) else ""
        template = self._display.get(column)
        if template is None:
            return value  # nothing to look up: BUILTIN.DF shows the value itself
        if not value.table:
            # Qualify with the query's first table, or the lookup's own table would capture the name.
            select = value.find_ancestor(exp.Select)
            source = select.args.get("from_") if select is not None else None
            if source is not None and isinstance(source.this, exp.Table):
                value = exp.column(value.name, table=source.this.alias_or_name)
        lookup = template.copy().transform(
            lambda n: value.copy() if isinstance(n, exp.Column) and n.name == "__value__" else n
        )
        return exp.Subquery(this=lookup)

    @staticmethod
    def _name_expressions(tree: exp.Expression) -> None:
        selects = [tree] if isinstance(tree, exp.Select) else list(tree.find_all(exp.Select))[:1]
        for select in selects:
            count = 0
            for index, projection in enumerate(select.expressions):
                if isinstance(projection, exp.Column | exp.Alias | exp.Star):
                    continue
                count += 1
                select.expressions[index] = exp.alias_(projection, f"expr{count}")

    # -- running ------------------------------------------------------------------------------------
    def run(self, query: str, params: list[Any], *, limit: int, offset: int) -> QueryPage:
        """One page of a query's results (limit/offset already checked by the caller)."""
        tree = self.to_sqlite(query)
        sql = tree.sql(dialect="sqlite")
        if isinstance(tree, exp.Select) and tree.args.get("limit") is None and tree.args.get("offset") is None:
            page_sql = tree.limit(limit).offset(offset).sql(dialect="sqlite")  # keeps the query's own ORDER BY
        else:  # FETCH FIRST n ROWS ONLY, UNION, ...: page over the query's result
            page_sql = f"SELECT * FROM ({sql}) LIMIT {int(limit)} OFFSET {int(offset)}"  # noqa: S608
        with self.backend.transaction() as conn:
            failures = self._install_functions(conn)
            try:
                total = conn.exec_driver_sql(f"SELECT COUNT(*) FROM ({sql})", tuple(params)).scalar_one()  # noqa: S608
                result = conn.exec_driver_sql(page_sql, tuple(params))
                columns = [name.lower() for name in list(result.keys())]
                rows = result.fetchall()
            except sa.exc.DBAPIError as exc:
                raise SuiteQLError(str(failures[0]) if failures else _describe(exc)) from None
        # NetSuite leaves null columns out; "_extra" and the like are the sandbox's own, not NetSuite's.
        items = [
            {
                "links": [],
                **{c: self._show(v) for c, v in zip(columns, row, strict=True) if v is not None and c[0] != "_"},
            }
            for row in rows
        ]
        return QueryPage(items=items, total=total, offset=offset, limit=limit)

    def _show(self, value: Any) -> str:
        if isinstance(value, str) and STORAGE_PATTERN.match(value):
            return self.backend.time.display(value)
        return _as_text(value)

    def _install_functions(self, conn: sa.Connection) -> list[Exception]:
        """Register the SuiteQL functions; returns the list their errors are collected in (SQLite hides them)."""
        dbapi: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
        account_time = self.backend.time
        now = account_time.store_instant(self.backend.clock.now())  # one SYSDATE per statement, as in Oracle
        failures: list[Exception] = []

        def is_date(value: Any) -> bool:
            return isinstance(value, str) and bool(STORAGE_PATTERN.match(value))

        def to_char(value: Any, model: str | None = None) -> str | None:
            if value is None:
                return None
            if is_date(value):
                return account_time.to_char(value, model) if model else account_time.display(value)
            return _as_text(value)

        def to_date(text: Any, model: str | None = None, _nls: Any = None) -> str | None:
            if text is None or is_date(text):
                return text
            return account_time.to_date(str(text), model)

        def date_add(stored: Any, days: Any) -> str | None:
            if stored is None or days is None:
                return None
            if not is_date(stored):
                raise SuiteQLError(f"Inconsistent datatypes: expected DATE, got {stored!r}.")
            return account_time.add_days(stored, float(to_number(days)))

        def days_between(later: Any, earlier: Any) -> float | None:
            return None if later is None or earlier is None else account_time.days_between(later, earlier)

        def trunc(value: Any, unit: Any = None) -> Any:
            if value is None:
                return None
            if is_date(value):
                return account_time.trunc(value, str(unit or "DD"))
            return _truncate_number(to_number(value), int(unit or 0))

        functions: dict[str, Callable[..., Any]] = {
            "NS_TO_CHAR": to_char,
            "NS_TO_DATE": to_date,
            "NS_TO_NUMBER": to_number,
            "NS_SYSDATE": lambda: now,
            "NS_DATE_ADD": date_add,
            "NS_DAYS_BETWEEN": days_between,
            "NS_TRUNC": trunc,
            "NS_CONCAT": lambda *parts: "".join(self._show(p) for p in parts if p is not None) or None,
        }
        for name, function in functions.items():
            dbapi.create_function(name, -1, _collecting(function, failures), deterministic=True)
        return failures


def to_number(value: Any, model: Any = None) -> int | float | None:
    """Oracle ``TO_NUMBER``: text to a number (group separators allowed when the model has them)."""
    if value is None or isinstance(value, int | float):
        return value
    text = str(value).strip()
    if model is not None and ("G" in str(model).upper() or "," in str(model)):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        raise SuiteQLError(f"Invalid number: {value!r}.")
    number = float(text)
    return int(number) if number.is_integer() and "e" not in text.lower() and "." not in text else number


def _truncate_number(number: int | float | None, places: int) -> int | float | None:
    if number is None:
        return None
    truncated = Decimal(str(number)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    return int(truncated) if places <= 0 else float(truncated)


def _collecting(function: Callable[..., Any], failures: list[Exception]) -> Callable[..., Any]:
    """The function, keeping what it raised: sqlite3 only says "user-defined function raised exception"."""

    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except Exception as exc:
            failures.append(exc)
            raise

    return call


def _days(amount: exp.Expression) -> exp.Expression:
    """A number of days from a number, or from an ``INTERVAL 'n' DAY|HOUR|MINUTE|SECOND``."""
    if not isinstance(amount, exp.Interval):
        return amount
    unit = amount.unit.name.upper() if amount.unit is not None else "DAY"
    if unit not in _DAY_FRACTIONS:
        raise SuiteQLError(f"Unsupported interval unit {unit}.")
    value = exp.Anonymous(this="NS_TO_NUMBER", expressions=[amount.this])
    return exp.Div(this=value, expression=exp.Literal.number(_DAY_FRACTIONS[unit]))


def _quote_reserved(node: exp.Expression) -> exp.Expression:
    """NetSuite's table ``transaction`` (and the ``transaction`` column of transactionline) is an SQLite keyword."""
    if isinstance(node, exp.Identifier) and not node.quoted and node.name.lower() in _SQLITE_KEYWORDS:
        return exp.Identifier(this=node.name.lower(), quoted=True)
    return node


def _is_builtin_df(node: exp.Dot) -> bool:
    return (
        isinstance(node.this, exp.Identifier | exp.Column)
        and node.this.name.upper() == "BUILTIN"
        and isinstance(node.expression, exp.Anonymous)
        and str(node.expression.this).upper() == "DF"
        and len(node.expression.expressions) == 1
    )


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _describe(exc: sa.exc.DBAPIError) -> str:
    message = str(exc.orig)
    if message.startswith("no such table"):
        return f"Record '{message.split(':', 1)[1].strip()}' was not found."
    if message.startswith("no such column"):
        return f"Field '{message.split(':', 1)[1].strip()}' was not found."
    return message
