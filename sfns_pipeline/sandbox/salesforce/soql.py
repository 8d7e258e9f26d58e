"""SOQL: a lark grammar for the subset the integration and its users write, parsed into a small AST.

Supported: ``SELECT`` of fields, parent paths (``Account.Name``), child subqueries
(``(SELECT ... FROM OrderItems)``) and ``COUNT()``; ``WHERE`` with comparisons, ``IN`` / ``NOT IN``,
``LIKE``, ``AND`` / ``OR`` / ``NOT``, ``null``, date and datetime literals (``2026-01-31``,
``2026-01-31T00:00:00Z``, ``TODAY``, ``LAST_N_DAYS:7``); ``ORDER BY ... ASC|DESC NULLS FIRST|LAST``;
``LIMIT``; ``OFFSET`` (at most 2000). Syntax errors are MALFORMED_QUERY with Salesforce's caret message, and so
is ``COUNT()`` next to other select items; an offset above 2000 is NUMBER_OUTSIDE_VALID_RANGE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from sfns_pipeline.sandbox.salesforce.errors import MalformedQuery, SalesforceError

GRAMMAR = r"""
start: query
query: _SELECT select_list _FROM NAME where_clause? order_clause? limit_clause? offset_clause?
select_list: select_item ("," select_item)*
?select_item: field_path | subquery | count_all
count_all: COUNT "(" ")"
subquery: "(" query ")"
field_path: NAME ("." NAME)*

where_clause: _WHERE condition
?condition: or_condition
?or_condition: and_condition (_OR and_condition)*
?and_condition: not_condition (_AND not_condition)*
?not_condition: _NOT not_condition -> negation
              | atom
?atom: "(" condition ")"
     | field_path COMP_OP value -> comparison
     | field_path _IN "(" value ("," value)* ")" -> in_list
     | field_path _NOT _IN "(" value ("," value)* ")" -> not_in_list
     | field_path _LIKE value -> like

value: STRING -> string
     | NUMBER -> number
     | DATETIME -> datetime
     | DATE -> date
     | NAME -> word
     | NAME ":" INT -> word_n

order_clause: _ORDER _BY order_item ("," order_item)*
order_item: field_path direction? nulls?
direction: ASC | DESC
nulls: _NULLS (FIRST | LAST)
limit_clause: _LIMIT INT
offset_clause: _OFFSET INT

_SELECT: "SELECT"i
_FROM: "FROM"i
_WHERE: "WHERE"i
_AND: "AND"i
_OR: "OR"i
_NOT: "NOT"i
_IN: "IN"i
_LIKE: "LIKE"i
_ORDER: "ORDER"i
_BY: "BY"i
_LIMIT: "LIMIT"i
_OFFSET: "OFFSET"i
COUNT: "COUNT"i
_NULLS: "NULLS"i
ASC: "ASC"i
DESC: "DESC"i
FIRST: "FIRST"i
LAST: "LAST"i
COMP_OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:[^'\\]|\\.)*'/
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})/
DATE.2: /\d{4}-\d{2}-\d{2}/
NUMBER.1: /[+-]?\d+(\.\d+)?/
INT: /\d+/
%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)
MAX_OFFSET = 2000  # Salesforce refuses larger offsets (page with nextRecordsUrl instead)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class FieldPath:
    """A field or a parent path, e.g. ``("Account", "Name")``, with where it was written."""

    parts: tuple[str, ...]
    line: int
    column: int

    @property
    def text(self) -> str:
        """The path as written in SOQL, e.g. ``Account.Name``."""
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    """A value in a condition: ``kind`` is string, number, boolean, null, date, datetime or date_literal."""

    kind: str
    value: Any
    n: int | None = None  # for LAST_N_DAYS:n style literals


@dataclass(frozen=True)
class Comparison:
    """``field op value`` with a comparison operator such as ``=``, ``!=`` or ``<=``."""

    field: FieldPath
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    """``field IN (...)`` or, when ``negated``, ``field NOT IN (...)``."""

    field: FieldPath
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``field LIKE pattern`` (``%`` and ``_`` wildcards, case-insensitive)."""

    field: FieldPath
    pattern: Literal


@dataclass(frozen=True)
class BoolOp:
    """Conditions joined by ``AND`` or ``OR``."""

    op: str  # "and" | "or"
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Negation:
    """``NOT condition``."""

    item: Any


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` term."""

    field: FieldPath
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce's default (nulls first ascending, last descending)


@dataclass(frozen=True)
class CountAll:
    """``COUNT()``: only the number of matching records (it must be the only select item)."""

    line: int
    column: int


@dataclass
class Query:
    """A parsed SELECT (also used for child subqueries, where ``sobject`` is the relationship name)."""

    select: list[Any]  # FieldPath | SubQuery | CountAll
    sobject: str
    sobject_line: int
    sobject_column: int
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class SubQuery:
    """A child-relationship subquery in the select list, e.g. ``(SELECT Id FROM Contacts)``."""

    query: Query


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


_WORDS = {"true": ("boolean", True), "false": ("boolean", False), "null": ("null", None)}


@v_args(inline=True)
class _ToAst(Transformer):
    """Builds the AST; rules SOQL states beyond its grammar raise their Salesforce error here."""

    def __init__(self, soql: str) -> None:
        super().__init__()
        self.soql = soql

    def start(self, query):
        return query

    def query(self, *items):
        select, name, *clauses = items
        count = next((item for item in select if isinstance(item, CountAll)), None)
        if count is not None and len(select) > 1:
            raise malformed(self.soql, count.line, count.column, "COUNT() must be the only element in the SELECT list")
        query = Query(select=select, sobject=str(name), sobject_line=name.line, sobject_column=name.column)
        for kind, value in clauses:
            setattr(query, kind, value)
        return query

    def select_list(self, *items):
        return list(items)

    def count_all(self, token: Token):
        return CountAll(token.line, token.column)

    def subquery(self, query):
        return SubQuery(query)

    def field_path(self, *names: Token):
        return FieldPath(tuple(str(n) for n in names), names[0].line, names[0].column)

    def where_clause(self, condition):
        return ("where", condition)

    def or_condition(self, *items):
        return BoolOp("or", items)

    def and_condition(self, *items):
        return BoolOp("and", items)

    def negation(self, item):
        return Negation(item)

    def comparison(self, path, op, value):
        return Comparison(path, "!=" if str(op) == "<>" else str(op), value)

    def in_list(self, path, *values):
        return InList(path, values)

    def not_in_list(self, path, *values):
        return InList(path, values, negated=True)

    def like(self, path, value):
        return Like(path, value)

    def string(self, token):
        return Literal("string", _unquote(str(token)))

    def number(self, token):
        text = str(token)
        return Literal("number", float(text) if "." in text else int(text))

    def datetime(self, token):
        return Literal("datetime", str(token))

    def date(self, token):
        return Literal("date", str(token))

    def word(self, token):
        kind, value = _WORDS.get(str(token).lower(), ("date_literal", str(token).upper()))
        return Literal(kind, value)

    def word_n(self, token, n):
        return Literal("date_literal", str(token).upper(), int(n))

    def order_clause(self, *items):
        return ("order_by", list(items))

    def order_item(self, path, *modifiers):
        descending, nulls_last = False, None
        for modifier in modifiers:
            if isinstance(modifier, tuple):
                nulls_last = modifier[1]
            else:
                descending = modifier
        return OrderItem(path, descending, nulls_last)

    def direction(self, token):
        return str(token).upper() == "DESC"

    def nulls(self, token):
        return ("nulls", str(token).upper() == "LAST")

    def limit_clause(self, token):
        return ("limit", int(token))

    def offset_clause(self, token):
        if int(token) > MAX_OFFSET:
            raise malformed(
                self.soql,
                token.line,
                token.column,
                f"maximum SOQL offset allowed is {MAX_OFFSET}",
                error_code="NUMBER_OUTSIDE_VALID_RANGE",
            )
        return ("offset", int(token))


def malformed(
    soql: str, line: int, column: int, detail: str, error_cls: type = MalformedQuery, error_code: str | None = None
):
    """An error whose message points at ``line``/``column`` of the query like Salesforce's does."""
    text_line = soql.splitlines()[line - 1] if soql.splitlines() else soql
    message = f"\n{text_line}\n{' ' * (column - 1)}^\nERROR at Row:{line}:Column:{column}\n{detail}"
    return error_cls(message, error_code=error_code) if error_code else error_cls(message)


def parse(soql: str) -> Query:
    """Parse a SOQL statement; raises MalformedQuery (with a caret message) on a syntax error."""
    try:
        return _ToAst(soql).transform(_PARSER.parse(soql))
    except UnexpectedEOF:
        lines = soql.splitlines() or [""]
        raise malformed(soql, len(lines), len(lines[-1]) + 1, "unexpected token: <EOF>") from None
    except UnexpectedToken as exc:
        shown = "<EOF>" if exc.token.type == "$END" else f"'{exc.token}'"
        raise malformed(soql, exc.line, exc.column, f"unexpected token: {shown}") from None
    except UnexpectedCharacters as exc:
        raise malformed(soql, exc.line, exc.column, f"unexpected token: '{soql[exc.pos_in_stream]}'") from None
    except UnexpectedInput as exc:  # pragma: no cover - the three above are lark's concrete cases
        raise MalformedQuery(f"unexpected input: {exc}") from None
    except VisitError as exc:  # a rule the transformer checks (COUNT() alone, the offset range)
        if isinstance(exc.orig_exc, SalesforceError):
            raise exc.orig_exc from None
        raise
