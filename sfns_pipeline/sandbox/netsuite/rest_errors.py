"""NetSuite REST error bodies: ``{type, title, status, o:errorDetails: [{detail, o:errorCode, o:errorPath}]}``."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from sfns_pipeline.sandbox.http import WireError
from sfns_pipeline.sandbox.netsuite.backend import NetSuiteError

_RFC2616 = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
_STATUS = {
    400: ("Bad Request", "#sec10.4.1"),
    401: ("Unauthorized", "#sec10.4.2"),
    404: ("Not Found", "#sec10.4.5"),
    405: ("Method Not Allowed", "#sec10.4.6"),
    429: ("Bad Request", "#sec10.4.1"),  # NetSuite's 429 body literally says "Bad Request"
    500: ("Internal Server Error", "#sec10.5.1"),
}
ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error"
INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)


class RestError(WireError):
    """A REST API error that renders NetSuite's error body."""

    def __init__(self, status: int, code: str, detail: str, *, top_level_code: str | None = None, **where: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.top_level_code = top_level_code
        self.where = where  # o:errorPath, o:errorQueryParam, o:errorHeader, o:errorUrl

    def body(self) -> dict[str, Any]:
        """NetSuite's error body: type, title, status and one ``o:errorDetails`` entry."""
        title, anchor = _STATUS.get(self.status, ("Bad Request", "#sec10.4.1"))
        detail: dict[str, Any] = {"detail": self.detail, "o:errorCode": self.code}
        detail |= {f"o:{key}": value for key, value in self.where.items() if value is not None}
        body: dict[str, Any] = {"type": f"{_RFC2616}{anchor}", "title": title, "status": self.status}
        if self.top_level_code:
            body["o:errorCode"] = self.top_level_code
        return body | {"o:errorDetails": [detail]}

    def to_response(self) -> Response:
        """The body with NetSuite's error content type."""
        return Response(json.dumps(self.body()), status=self.status, content_type=ERROR_CONTENT_TYPE)

    @classmethod
    def invalid_login(cls) -> RestError:
        """401 INVALID_LOGIN with NetSuite's fixed detail whatever the cause; only the log says why."""
        return cls(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)

    @classmethod
    def concurrency_limit(cls) -> RestError:
        """429 CONCURRENCY_LIMIT_EXCEEDED (top-level USER_ERROR): every concurrency slot of the account is taken."""
        return cls(
            429,
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded. Request blocked.",
            top_level_code="USER_ERROR",
        )

    @classmethod
    def invalid_parameter(cls, detail: str, parameter: str) -> RestError:
        """400 INVALID_PARAMETER naming the offending query parameter."""
        return cls(400, "INVALID_PARAMETER", detail, errorQueryParam=parameter)

    @classmethod
    def from_backend(cls, error: NetSuiteError) -> RestError:
        """A record-level error from the backend, with the field path it concerns."""
        if error.code in ("RCRD_DSNT_EXIST", "INVALID_RCRD_TYPE"):
            return cls(404, "NONEXISTENT_ID", f"The record instance does not exist. {error.message}")
        return cls(400, error.code, f"Error while accessing a resource. {error.message}", errorPath=error.field)
