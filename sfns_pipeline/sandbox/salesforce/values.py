"""Field values on the wire: JSON in, stored form, JSON out.

Stored forms are JSON-friendly: text as ``str``, numbers as ``float``/``int``, dates ``YYYY-MM-DD``,
datetimes in Salesforce's own format (``2026-01-31T09:30:00.000+0000``, always UTC), ids 18 characters.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sfns_pipeline.sandbox.salesforce.errors import JsonParserError, MalformedId, RestrictedPicklist, StringTooLong
from sfns_pipeline.sandbox.salesforce.ids import normalize_id
from sfns_pipeline.sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_datetime(moment: datetime) -> str:
    """Salesforce's datetime format: milliseconds and a ``+0000`` offset without a colon."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    """A timezone-aware datetime from the ISO-ish forms Salesforce accepts (no offset = UTC), or None."""
    match = _DATETIME.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            int((fraction or "0").ljust(6, "0")), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        moment -= sign * (datetime(2000, 1, 1, int(digits[:2]), int(digits[2:])) - datetime(2000, 1, 1))
    return moment


def parse_date(text: str) -> date | None:
    """A date from ``YYYY-MM-DD``, or None."""
    if not isinstance(text, str) or not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _type_error(field: FieldDef, value: Any) -> JsonParserError:
    kind = {bool: "VALUE_TRUE" if value else "VALUE_FALSE", dict: "START_OBJECT", list: "START_ARRAY"}
    token = kind.get(type(value), "VALUE_STRING" if isinstance(value, str) else "VALUE_NUMBER")
    java_type = {"boolean": "boolean", "date": "date", "datetime": "datetime", "int": "int"}.get(field.type, "double")
    if field.type in TEXT_TYPES or field.type in ("id", "reference"):
        java_type = "string"
    return JsonParserError(
        f"Cannot deserialize instance of {java_type} from {token} value {value} or request may be missing "
        f"a required field at [line:1, column:1]",
        fields=[field.name],
    )


def deserialize(field: FieldDef, value: Any) -> Any:
    """The stored form of a JSON value for ``field``; JSON_PARSER_ERROR when the JSON type cannot be one.

    Like Salesforce, numbers are accepted for text fields and numeric strings for number fields.
    """
    if value is None:
        return None
    kind = field.type
    if kind in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _type_error(field, value)
        return value if isinstance(value, str) else _number_text(value)
    if kind in ("id", "reference"):
        if not isinstance(value, str):
            raise _type_error(field, value)
        return value
    if kind in NUMBER_TYPES:
        return _number(field, value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(field, value)
        return value
    if kind == "date":
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None:
                raise _type_error(field, value)
            parsed = moment.date()
        return parsed.isoformat()
    if kind == "datetime":
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise _type_error(field, value)
        return format_datetime(moment)
    raise _type_error(field, value)


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _number(field: FieldDef, value: Any) -> int | float:
    if isinstance(value, bool):
        raise _type_error(field, value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _type_error(field, value) from None
    if not isinstance(value, int | float):
        raise _type_error(field, value)
    if field.type == "int":
        if isinstance(value, float) and not value.is_integer():
            raise _type_error(field, value)
        return int(value)
    return float(value) if field.scale is None else round(float(value), field.scale)


def check_constraints(field: FieldDef, value: Any) -> None:
    """Per-record checks on a stored value: length, restricted picklists, id shape."""
    if value is None:
        return
    if field.type in TEXT_TYPES and field.length and len(value) > field.length:
        raise StringTooLong(field.name, value, field.length)
    if field.type == "picklist" and field.restricted and value not in field.picklist:
        raise RestrictedPicklist(field.name, value)
    if field.type == "reference" and normalize_id(value) is None:
        raise MalformedId(f"{field.label} ID: id value of incorrect type: {value}", fields=[field.name])
