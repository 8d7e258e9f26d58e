"""Safe SOQL building: ids from events are validated strictly, other values are quoted by simple-salesforce.

Event payloads are untrusted input. A Salesforce id is exactly 15 or 18 alphanumeric characters, so
anything else is rejected before it can reach a query string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from simple_salesforce import format_soql

_SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")


class InvalidSalesforceId(ValueError):
    """A value that should be a Salesforce id is not one."""


def is_salesforce_id(value: object) -> bool:
    """True for a 15- or 18-character Salesforce id."""
    return isinstance(value, str) and bool(_SALESFORCE_ID.match(value))


def validated_ids(ids: Iterable[str]) -> list[str]:
    """The ids, de-duplicated in order, or :class:`InvalidSalesforceId` naming the first bad one."""
    unique: list[str] = []
    for value in ids:
        if not is_salesforce_id(value):
            raise InvalidSalesforceId(f"not a Salesforce id: {str(value)[:40]!r}")
        if value not in unique:
            unique.append(value)
    return unique


def api_name(name: str) -> str:
    """A field/object API name (or a dotted relationship path), validated: settings name fields."""
    if not _API_NAME.match(name):
        raise ValueError(f"not a valid API name: {name!r}")
    return name


def select_by_ids(sobject: str, fields: Iterable[str], ids: Iterable[str], *, id_field: str = "Id") -> str:
    """``SELECT fields FROM sobject WHERE id_field IN (...)`` with every part validated or quoted."""
    columns = ", ".join(api_name(field) for field in fields)
    return format_soql(
        f"SELECT {columns} FROM {api_name(sobject)} WHERE {api_name(id_field)} IN {{ids}}",  # noqa: S608 - names validated
        ids=validated_ids(ids),
    )
