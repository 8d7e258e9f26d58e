"""SuiteQL: Oracle-dialect SELECTs over the account's tables, transpiled to SQLite with sqlglot.

The query is parsed as Oracle SQL and rewritten on the syntax tree, never with regexes:

- ``TO_CHAR(date, model)`` / ``TO_DATE(text, model)`` / ``SYSDATE`` become functions registered on the SQLite
  connection that apply Oracle format models in the account's time zone (:mod:`.timefmt`);
- ``BUILTIN.DF(column)`` becomes a scalar subquery for the display name of what the column refers to
  (``entity`` -> the customer's name, ``status`` -> ``Invoice : Open``, ...);
- unnamed expressions are named ``expr1``, ``expr2``, ... as NetSuite names them;
- ``FETCH FIRST n ROWS ONLY``, ``NVL``, ``DECODE``, ``||`` and ``?`` parameters are sqlglot's work.

Results come back as NetSuite sends them: lowercase column names, every value a string, nulls left out,
dates in the account's display format.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.time import format_time

from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend
from sfns_pipeline.sandbox.netsuite.timefmt import STORAGE_PATTERN

MAX_PAGE = 1000
_ORACLE = Dialect.get_or_raise("oracle")
MAX_RESULTS = 100_000
_SQLITE_KEYWORDS = frozenset({"transaction", "action", "group", "order", "index", "key", "values", "plan", "query"})


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
    fields = [f for record in backend.schema.record_types.values() for f in record.fields.values()]
    for field_def in [*fields, *backend.schema.line_fields.values()]:
        if field_def.kind != "ref" or field_def.to in (None, "transaction") or field_def.column in templates:
            continue
        target = backend.schema.record_types[field_def.to]
        if target.ref_name:
            display = target.fields[target.ref_name].column
            # Names come from records.json, never from a request.
            templates[field_def.column] = f"SELECT df.{display} FROM {target.table} df WHERE df.id = __value__"  # noqa: S608
    return {column: sqlglot.parse_one(sql, read="sqlite") for column, sql in templates.items()}


class SuiteQL:
    """Runs SuiteQL against a backend's database."""

    def __init__(self, backend: NetSuiteBackend) -> None:
        self.backend = backend
        self._display = _display_targets(backend)

    # -- transpiling --------------------------------------------------------------------------------
    def to_sqlite(self, query: str) -> exp.Query:
        """A SuiteQL query as an SQLite syntax tree; SuiteQLError if it is not a single SELECT SuiteQL accepts."""
        try:
            statements = sqlglot.parse(query, read="oracle")
        except sqlglot.errors.SqlglotError as exc:
            raise SuiteQLError(str(exc).splitlines()[0]) from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise SuiteQLError("Only a single SELECT statement is supported.")
        tree = statements[0]
        if tree.find(exp.With) is not None:
            raise SuiteQLError("WITH clauses are not supported.")
        tree = tree.transform(self._rewrite)
        self._name_expressions(tree)
        return tree.transform(_quote_reserved)

    def _rewrite(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.ToChar):
            args = [node.this, *([node.args["format"]] if node.args.get("format") else [])]
            return exp.Anonymous(this="NS_TO_CHAR", expressions=args)
        if isinstance(node, exp.StrToDate | exp.StrToTime):
            args = [node.this, *([_oracle_model(node.args["format"])] if node.args.get("format") else [])]
            return exp.Anonymous(this="NS_TO_DATE", expressions=args)
        if isinstance(node, exp.CurrentTimestamp | exp.CurrentDate):
            return exp.Anonymous(this="NS_SYSDATE", expressions=[])
        if isinstance(node, exp.Dot) and _is_builtin_df(node):
            return self._display_name(node.expression.expressions[0])
        return node

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
            self._install_functions(conn)
            try:
                total = conn.exec_driver_sql(f"SELECT COUNT(*) FROM ({sql})", tuple(params)).scalar_one()  # noqa: S608
                result = conn.exec_driver_sql(page_sql, tuple(params))
                columns = [name.lower() for name in list(result.keys())]
                rows = result.fetchall()
            except sa.exc.DBAPIError as exc:
                raise SuiteQLError(_describe(exc)) from None
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

    def _install_functions(self, conn: sa.Connection) -> None:
        dbapi: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
        account_time, clock = self.backend.time, self.backend.clock

        def to_char(value: Any, model: str | None = None) -> str | None:
            if value is None:
                return None
            if isinstance(value, str) and STORAGE_PATTERN.match(value):
                return account_time.to_char(value, model) if model else account_time.display(value)
            return _as_text(value)

        def to_date(text: Any, model: str | None = None) -> str | None:
            return None if text is None else account_time.to_date(str(text), model)

        dbapi.create_function("NS_TO_CHAR", -1, to_char, deterministic=True)
        dbapi.create_function("NS_TO_DATE", -1, to_date, deterministic=True)
        dbapi.create_function("NS_SYSDATE", 0, lambda: account_time.store_instant(clock.now()))


def _oracle_model(model: exp.Expression) -> exp.Expression:
    """sqlglot turns an upper-case TO_DATE model into strftime form; SuiteQL functions take Oracle's."""
    if isinstance(model, exp.Literal) and "%" in model.this:
        return exp.Literal.string(format_time(model.this, _ORACLE.INVERSE_TIME_MAPPING, _ORACLE.INVERSE_TIME_TRIE))
    return model


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
    if "user-defined function raised exception" in message:
        return "Invalid date or format model in TO_DATE/TO_CHAR."
    if message.startswith("no such table"):
        return f"Record '{message.split(':', 1)[1].strip()}' was not found."
    if message.startswith("no such column"):
        return f"Field '{message.split(':', 1)[1].strip()}' was not found."
    return message
