"""Salesforce's errors as exceptions that render their own wire shape (moto style).

REST errors are a JSON *list* of ``{"message", "errorCode", "fields"}``; simple-salesforce reads
``[0]["errorCode"]`` to decide whether to log in again, so the list shape matters. Per-record errors
inside sObject Collections use ``statusCode`` instead of ``errorCode``. OAuth errors are
``{"error", "error_description"}``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from sfns_pipeline.sandbox.http import WireError, json_response


class SalesforceError(WireError):
    """A REST API error: ``status`` plus one ``{message, errorCode, fields}`` entry."""

    status = 400
    error_code = "UNKNOWN_EXCEPTION"

    def __init__(self, message: str, *, fields: list[str] | None = None, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        if error_code:
            self.error_code = error_code

    def body(self) -> dict[str, Any]:
        """The single-record REST shape (``errorCode``; ``fields`` only when there are some, as Salesforce does)."""
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            body["fields"] = self.fields
        return body

    def record_error(self) -> dict[str, Any]:
        """The per-record shape inside Collections results and DML results (``statusCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}

    def to_response(self) -> Response:
        return json_response([self.body()], self.status)


class InvalidSession(SalesforceError):
    status = 401
    error_code = "INVALID_SESSION_ID"

    def __init__(self) -> None:
        super().__init__("Session expired or invalid")


class RequestLimitExceeded(SalesforceError):
    status = 403
    error_code = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self) -> None:
        super().__init__("TotalRequests Limit exceeded.")


class NotFound(SalesforceError):
    status = 404
    error_code = "NOT_FOUND"

    def __init__(self, message: str = "The requested resource does not exist") -> None:
        super().__init__(message)


class EntityIsDeleted(SalesforceError):
    status = 404
    error_code = "ENTITY_IS_DELETED"

    def __init__(self) -> None:
        super().__init__("entity is deleted")


class ServerUnavailable(SalesforceError):
    status = 503
    error_code = "SERVER_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("Server is temporarily unavailable. Please try again later.")


class UnableToLockRow(SalesforceError):
    error_code = "UNABLE_TO_LOCK_ROW"

    def __init__(self, record_ids: list[str] | None = None) -> None:
        ids = record_ids or []
        count = max(len(ids), 1)
        super().__init__(f"unable to obtain exclusive access to this record or {count} records: {', '.join(ids)}")


class InvalidField(SalesforceError):
    error_code = "INVALID_FIELD"


class InvalidType(SalesforceError):
    error_code = "INVALID_TYPE"


class NotAnObject(SalesforceError):
    """An unknown sObject in a URL: Salesforce answers 404 NOT_FOUND."""

    status = 404
    error_code = "NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"The requested resource does not exist: sObject type '{name}' is not supported.")


class MalformedQuery(SalesforceError):
    error_code = "MALFORMED_QUERY"


class InvalidQueryLocator(SalesforceError):
    error_code = "INVALID_QUERY_LOCATOR"

    def __init__(self) -> None:
        super().__init__("invalid query locator")


class JsonParserError(SalesforceError):
    error_code = "JSON_PARSER_ERROR"


class MalformedId(SalesforceError):
    error_code = "MALFORMED_ID"


class InvalidCrossReferenceKey(SalesforceError):
    error_code = "INVALID_CROSS_REFERENCE_KEY"


class RequiredFieldMissing(SalesforceError):
    error_code = "REQUIRED_FIELD_MISSING"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"Required fields are missing: [{', '.join(fields)}]", fields=fields)


class RestrictedPicklist(SalesforceError):
    error_code = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(f"{field}: bad value for restricted picklist field: {value}", fields=[field])


class StringTooLong(SalesforceError):
    error_code = "STRING_TOO_LONG"

    def __init__(self, field: str, value: str, length: int) -> None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        super().__init__(f"{field}: data value too large: {shown} (max length={length})", fields=[field])


class DuplicateValue(SalesforceError):
    error_code = "DUPLICATE_VALUE"

    def __init__(self, field: str, record_id: str) -> None:
        super().__init__(f"duplicate value found: {field} duplicates value on record with id: {record_id}", fields=[])


class DuplicateExternalId(SalesforceError):
    error_code = "DUPLICATE_EXTERNAL_ID"


class ReadOnlyField(SalesforceError):
    error_code = "INVALID_FIELD_FOR_INSERT_UPDATE"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(
            f"Unable to create/update fields: {', '.join(fields)}. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.",
            fields=fields,
        )


class FieldIntegrity(SalesforceError):
    error_code = "FIELD_INTEGRITY_EXCEPTION"


class RolledBack(SalesforceError):
    """The fate of the good records of an allOrNone batch that had a bad one."""

    error_code = "ALL_OR_NONE_OPERATION_ROLLED_BACK"

    def __init__(self) -> None:
        super().__init__(
            "Record rolled back because not all records were valid and the request was using AllOrNone header"
        )


class MultipleMatches(WireError):
    """Upsert or get by an external id that matches several records: 300 with their URLs."""

    status = 300

    def __init__(self, urls: list[str]) -> None:
        super().__init__("multiple matches")
        self.urls = urls

    def to_response(self) -> Response:
        return json_response(self.urls, 300)


class OAuthError(WireError):
    """A token endpoint error: ``{"error", "error_description"}`` (400 unless stated)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def to_response(self) -> Response:
        return json_response({"error": self.error, "error_description": self.description}, self.status)
