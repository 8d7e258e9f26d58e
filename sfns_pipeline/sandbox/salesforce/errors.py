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
        """The REST API's error body: a JSON list holding one error."""
        return json_response([self.body()], self.status)


class InvalidSession(SalesforceError):
    """401 INVALID_SESSION_ID: a missing, unknown or expired session."""

    status = 401
    error_code = "INVALID_SESSION_ID"

    def __init__(self) -> None:
        super().__init__("Session expired or invalid")


class RequestLimitExceeded(SalesforceError):
    """403 REQUEST_LIMIT_EXCEEDED: the org's daily API allowance is spent."""

    status = 403
    error_code = "REQUEST_LIMIT_EXCEEDED"

    def __init__(self) -> None:
        super().__init__("TotalRequests Limit exceeded.")


class NotFound(SalesforceError):
    """404 NOT_FOUND: an unknown record, API version or resource."""

    status = 404
    error_code = "NOT_FOUND"

    def __init__(self, message: str = "The requested resource does not exist") -> None:
        super().__init__(message)


class EntityIsDeleted(SalesforceError):
    """404 ENTITY_IS_DELETED: the record is in the recycle bin."""

    status = 404
    error_code = "ENTITY_IS_DELETED"

    def __init__(self) -> None:
        super().__init__("entity is deleted")


class ServerUnavailable(SalesforceError):
    """503 SERVER_UNAVAILABLE: a transient outage the client is expected to retry."""

    status = 503
    error_code = "SERVER_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("Server is temporarily unavailable. Please try again later.")


class UnableToLockRow(SalesforceError):
    """400 UNABLE_TO_LOCK_ROW: another transaction holds the records; retryable."""

    error_code = "UNABLE_TO_LOCK_ROW"

    def __init__(self, record_ids: list[str] | None = None) -> None:
        ids = record_ids or []
        count = max(len(ids), 1)
        super().__init__(f"unable to obtain exclusive access to this record or {count} records: {', '.join(ids)}")


class InvalidField(SalesforceError):
    """400 INVALID_FIELD: a field the object lacks or that cannot be used that way."""

    error_code = "INVALID_FIELD"


class InvalidType(SalesforceError):
    """400 INVALID_TYPE: a SOQL query on an sObject the org lacks."""

    error_code = "INVALID_TYPE"


class NotAnObject(SalesforceError):
    """An unknown sObject in a URL: Salesforce answers 404 NOT_FOUND."""

    status = 404
    error_code = "NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"The requested resource does not exist: sObject type '{name}' is not supported.")


class MalformedQuery(SalesforceError):
    """400 MALFORMED_QUERY: SOQL that does not parse."""

    error_code = "MALFORMED_QUERY"


class InvalidQueryLocator(SalesforceError):
    """400 INVALID_QUERY_LOCATOR: a queryMore locator that is unknown or expired."""

    error_code = "INVALID_QUERY_LOCATOR"

    def __init__(self) -> None:
        super().__init__("invalid query locator")


class JsonParserError(SalesforceError):
    """400 JSON_PARSER_ERROR: a request body that is not the JSON the endpoint expects."""

    error_code = "JSON_PARSER_ERROR"


class MalformedId(SalesforceError):
    """400 MALFORMED_ID: a record id of the wrong shape or key prefix."""

    error_code = "MALFORMED_ID"


class InvalidCrossReferenceKey(SalesforceError):
    """400 INVALID_CROSS_REFERENCE_KEY: a reference to a record that does not exist."""

    error_code = "INVALID_CROSS_REFERENCE_KEY"


class RequiredFieldMissing(SalesforceError):
    """400 REQUIRED_FIELD_MISSING: a create without a required field."""

    error_code = "REQUIRED_FIELD_MISSING"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"Required fields are missing: [{', '.join(fields)}]", fields=fields)


class RestrictedPicklist(SalesforceError):
    """400 INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: a value outside a restricted picklist."""

    error_code = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(f"{field}: bad value for restricted picklist field: {value}", fields=[field])


class StringTooLong(SalesforceError):
    """400 STRING_TOO_LONG: a text value longer than the field allows."""

    error_code = "STRING_TOO_LONG"

    def __init__(self, field: str, value: str, length: int) -> None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        super().__init__(f"{field}: data value too large: {shown} (max length={length})", fields=[field])


class DuplicateValue(SalesforceError):
    """400 DUPLICATE_VALUE: a value already held by another record in a unique field."""

    error_code = "DUPLICATE_VALUE"

    def __init__(self, field: str, record_id: str) -> None:
        super().__init__(f"duplicate value found: {field} duplicates value on record with id: {record_id}", fields=[])


class DuplicateExternalId(SalesforceError):
    """400 DUPLICATE_EXTERNAL_ID: an external id that matches more than one record."""

    error_code = "DUPLICATE_EXTERNAL_ID"


class ReadOnlyField(SalesforceError):
    """400 INVALID_FIELD_FOR_INSERT_UPDATE: a write to a read-only field."""

    error_code = "INVALID_FIELD_FOR_INSERT_UPDATE"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(
            f"Unable to create/update fields: {', '.join(fields)}. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.",
            fields=fields,
        )


class FieldIntegrity(SalesforceError):
    """400 FIELD_INTEGRITY_EXCEPTION: a value that breaks a cross-record rule (e.g. an order's price book)."""

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
        """300 Multiple Choices with a JSON list of the matching records' URLs."""
        return json_response(self.urls, 300)


class OAuthError(WireError):
    """A token endpoint error: ``{"error", "error_description"}`` (400 unless stated)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def to_response(self) -> Response:
        """The OAuth 2.0 error body with its status."""
        return json_response({"error": self.error, "error_description": self.description}, self.status)
