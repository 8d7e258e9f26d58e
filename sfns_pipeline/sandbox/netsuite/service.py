"""The NetSuite sandbox's HTTPS service: REST record API, SuiteQL, the OAuth 2.0 token endpoint, and SOAP routing.

Which account a request addresses, since the sandbox runs on localhost:

- a path prefix with the account id in host-name form, ``https://localhost:9443/1234567-sb1/services/rest/...``
  (the URLs in ``endpoints.json`` use it), or
- the Host header, as NetSuite does: ``Host: 1234567-sb1.suitetalk.api.netsuite.com``;
- a bare ``https://localhost:9443/services/...`` addresses the sandbox's one account.

Every account named (prefix and Host header alike) must be this one, in host-name form: another account,
or the right one in the wrong form (``1234567_SB1`` in a host), fails like a bad login. The TBA realm
must be the uppercase-underscore form (``1234567_SB1``). SOAP requests are served by the SOAP layer
(``soap/endpoint.py``), which takes its own slot from the same :class:`Governor`; REST requests take one
here for as long as they run (injected latency included). The token endpoint is not governed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from werkzeug.http import http_date
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.faults import FaultInjector
from sfns_pipeline.sandbox.http import HttpService, json_response
from sfns_pipeline.sandbox.netsuite.auth import RestAuthenticator
from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend, NetSuiteError
from sfns_pipeline.sandbox.netsuite.credentials import Credentials, OAuth2Error, host_form
from sfns_pipeline.sandbox.netsuite.governance import ConcurrencyLimitExceeded, Governor
from sfns_pipeline.sandbox.netsuite.record_query import RecordQueryError, parse_record_query
from sfns_pipeline.sandbox.netsuite.rest_errors import RestError
from sfns_pipeline.sandbox.netsuite.schema import RecordType
from sfns_pipeline.sandbox.netsuite.soap.endpoint import SoapEndpoint
from sfns_pipeline.sandbox.netsuite.suiteql import MAX_PAGE, MAX_RESULTS, SuiteQL, SuiteQLError

log = logging.getLogger(__name__)

NETSUITE_HOST_SUFFIX = ".suitetalk.api.netsuite.com"
RECORD_BASE = "/services/rest/record/v1"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"  # noqa: S105 - a URL path, not a secret
_GOVERNED = re.compile(r"/services/rest/(record|query|system)/")
_SINGULAR = "application/vnd.oracle.resource+json; type=singular"
NAME_VALIDATION_HEADER = "X-NetSuite-PropertyNameValidation"
WARNING_HEADER = "X-NetSuite-Warning"  # the OpenAPI description's "warning messages that occurred during processing"
_NAME_VALIDATION_MODES = ("error", "warning", "ignore")
_COLLECTION = "application/vnd.oracle.resource+json; type=collection"


def _routes(version: str) -> list[Rule]:
    """The routing table; every path also works under an ``/<account>`` prefix."""
    table = [
        (TOKEN_PATH, ["POST"], "oauth2_token"),
        ("/services/rest/query/v1/suiteql", ["POST"], "suiteql"),
        ("/services/rest/system/v1/governanceLimits", ["GET"], "governance_limits"),
        (f"{RECORD_BASE}/<record_type>", ["GET"], "record_list"),
        (f"{RECORD_BASE}/<record_type>", ["POST"], "record_create"),
        (f"{RECORD_BASE}/<record_type>/<key>", ["GET"], "record_get"),
        (f"{RECORD_BASE}/<record_type>/<key>", ["PATCH"], "record_update"),
        (f"{RECORD_BASE}/<record_type>/<key>", ["PUT"], "record_upsert"),
        (f"{RECORD_BASE}/<record_type>/<key>/<sublist>", ["GET"], "record_sublist"),
        (f"{RECORD_BASE}/<record_type>/<key>/!transform/<target>", ["POST"], "record_transform"),
        (f"/services/NetSuitePort_{version}", ["POST"], "soap_request"),
        (f"/wsdl/v{version}_0/<path:filename>", ["GET"], "soap_wsdl"),
    ]
    return [
        Rule(prefix + path, methods=methods, endpoint=endpoint)
        for path, methods, endpoint in table
        for prefix in ("", "/<account>")
    ]


# (source, target) record types -> backend operation(backend, source id, request body) -> new id
_TRANSFORMS = {
    ("salesorder", "itemfulfillment"): lambda backend, source, body: backend.fulfill_sales_order(
        source, tracking_numbers=[n for n in str(body.get("trackingNumbers") or "").split(",") if n] or None
    ),
    ("salesorder", "invoice"): lambda backend, source, body: backend.bill_sales_order(source),
    ("invoice", "creditmemo"): lambda backend, source, body: backend.credit_invoice(
        source, items=(body.get("item") or {}).get("items"), memo=body.get("memo")
    ),
    ("creditmemo", "customerrefund"): lambda backend, source, body: backend.refund_credit_memo(
        source, amount=body.get("total")
    ),
}


def _paging(request: Request) -> tuple[int, int]:
    """limit (1..1000, default 1000) and offset (a multiple of limit, within 1000 pages)."""
    try:
        limit = int(request.args.get("limit", MAX_PAGE))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise RestError.invalid_parameter("The limit and offset query parameters must be integers.", "limit") from None
    if not 1 <= limit <= MAX_PAGE:
        raise RestError.invalid_parameter(f"The limit parameter must be between 1 and {MAX_PAGE}.", "limit")
    if offset < 0 or offset % limit:
        raise RestError.invalid_parameter("The offset parameter must be a multiple of the limit parameter.", "offset")
    if offset // limit >= 1000:
        raise RestError.invalid_parameter("The offset parameter exceeds the maximum of 1000 pages.", "offset")
    return limit, offset


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise RestError(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None


def _checked_names(request: Request, record: RecordType, body: Any) -> tuple[Any, str | None]:
    """The body without unknown field names, and the warning to send about them, per
    ``X-NetSuite-PropertyNameValidation``: ``Error`` refuses them (400 ``INVALID_CONTENT``), ``Warning`` (the
    default) ignores them with an ``X-NetSuite-Warning`` header, ``Ignore`` ignores them silently."""
    mode = request.headers.get(NAME_VALIDATION_HEADER, "warning").strip().lower()
    if mode not in _NAME_VALIDATION_MODES:
        raise RestError(
            400,
            "INVALID_REQUEST",
            f"Invalid value {mode!r} of header {NAME_VALIDATION_HEADER}; use Error, Warning or Ignore.",
            errorHeader=NAME_VALIDATION_HEADER,
        )
    if not isinstance(body, dict):
        return body, None
    unknown = [name for name in body if not record.has_field(name)]
    if not unknown:
        return body, None
    listed = ", ".join(unknown)
    if mode == "error":
        raise RestError(
            400,
            "INVALID_CONTENT",
            f"Error while accessing a resource. Invalid field name(s) for record type {record.name}: {listed}.",
            errorPath=unknown[0],
        )
    kept = {name: value for name, value in body.items() if name not in unknown}
    return kept, (f"Unknown field name(s) ignored: {listed}." if mode == "warning" else None)


@contextmanager
def _as_rest_errors() -> Iterator[None]:
    try:
        yield
    except NetSuiteError as error:
        raise RestError.from_backend(error) from None


class NetSuiteService(HttpService):
    """HTTPS front of one NetSuite account."""

    name = "netsuite"

    def __init__(
        self,
        *,
        clock: SandboxClock,
        faults: FaultInjector,
        backend: NetSuiteBackend,
        credentials: Credentials,
        governor: Governor,
        version: str,
        soap_layer: SoapEndpoint,
    ) -> None:
        self.routes = _routes(version)  # the version is part of the SOAP paths
        super().__init__(clock=clock, faults=faults)
        self.backend = backend
        self.credentials = credentials
        self.governor = governor
        self.soap_layer = soap_layer
        self.query_engine = SuiteQL(backend)
        self.authenticator = RestAuthenticator(credentials)

    # -- governance: REST requests hold one of the account's slots while they run --------------------
    def __call__(self, environ, start_response):
        """Run governed REST requests inside one of the account's concurrency slots; 429 when none is free."""
        if not _GOVERNED.search(environ.get("PATH_INFO", "")):
            return super().__call__(environ, start_response)
        try:
            with self.governor.slot():
                return super().__call__(environ, start_response)
        except ConcurrencyLimitExceeded:
            response = RestError.concurrency_limit().to_response()
            response.headers["Date"] = http_date(self.clock.now())  # as on every other answer
            return response(environ, start_response)

    def render_fault(self, kind: str, request: Request) -> Response:
        """Injected faults in NetSuite's shapes: SOAP faults on the SOAP port, 429, an HTML 503 page, else a 500."""
        if "/services/NetSuitePort_" in request.path:
            return self.soap_layer.render_fault(kind, request)
        if kind in ("429", "CONCURRENCY_LIMIT_EXCEEDED"):
            return RestError.concurrency_limit().to_response()
        if kind == "503":
            return Response(
                "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                status=503,
                content_type="text/html",
            )
        return RestError(500, "UNEXPECTED_ERROR", f"An unexpected error occurred. Error ID: {kind}").to_response()

    def render_not_found(self, request: Request) -> Response:
        """404 NONEXISTENT_ID, NetSuite's answer for an unknown URL."""
        return RestError(404, "NONEXISTENT_ID", f"The requested resource {request.path} does not exist.").to_response()

    def render_method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        """405 INVALID_REQUEST with an ``Allow`` header."""
        detail = f"The HTTP method {request.method} is not allowed for {request.path}."
        response = RestError(405, "INVALID_REQUEST", detail).to_response()
        response.headers["Allow"] = ", ".join(allowed)
        return response

    # -- account and authentication -----------------------------------------------------------------
    @staticmethod
    def _named_accounts(request: Request, account: str | None) -> set[str]:
        """Accounts the request names, in its path prefix and in its Host header."""
        host = request.host.split(":", 1)[0]
        named = {account} if account is not None else set()
        return named | ({host.removesuffix(NETSUITE_HOST_SUFFIX)} if host.endswith(NETSUITE_HOST_SUFFIX) else set())

    def _authenticate(self, request: Request, account: str | None) -> None:
        others = self._named_accounts(request, account) - {host_form(self.credentials.account_id)}
        if others:
            log.info("netsuite sandbox: login refused (account %s not served here)", ", ".join(sorted(others)))
            raise RestError.invalid_login()
        reason = self.authenticator.authenticate(request)
        if reason is not None:
            log.info("netsuite sandbox: login refused (%s)", reason)  # the Login Audit Trail's reason
            raise RestError.invalid_login()

    @staticmethod
    def _base(request: Request, account: str | None) -> str:
        return f"https://{request.host}" + (f"/{account}" if account else "")

    # -- OAuth 2.0 client credentials ---------------------------------------------------------------
    def oauth2_token(self, request: Request, account: str | None = None) -> Response:
        """POST /services/rest/auth/oauth2/v1/token: a bearer token for client credentials with a JWT assertion."""
        token_url = self._base(request, account) + TOKEN_PATH
        try:
            token = self.credentials.issue_bearer(request.form.to_dict(), token_url)
        except OAuth2Error as error:
            log.info("netsuite sandbox: token request refused (%s)", error.description)
            return json_response({"error": error.error}, 400)
        return json_response(token)

    # -- REST record API ----------------------------------------------------------------------------
    def _write_body(self, request: Request, record_type: str) -> tuple[Any, str | None]:
        """The request's JSON body with its field names checked against the record type."""
        body = _json_body(request)
        with _as_rest_errors():
            record = self.backend.record_type(record_type)
        return _checked_names(request, record, body)

    def record_create(self, request: Request, record_type: str, account: str | None = None) -> Response:
        """POST /record/v1/{type}: create a record, 204 with its ``Location``."""
        self._authenticate(request, account)
        body, warning = self._write_body(request, record_type)
        if not isinstance(body, dict):
            raise RestError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        with _as_rest_errors():
            internal_id = self.backend.create(record_type, body, external_id=body.get("externalId"))
        return self._written(request, account, record_type, internal_id, warning)

    def record_update(self, request: Request, record_type: str, key: str, account: str | None = None) -> Response:
        """PATCH /record/v1/{type}/{id}: update a record (internal id or ``eid:``), 204 with its ``Location``."""
        self._authenticate(request, account)
        body, warning = self._write_body(request, record_type)
        with _as_rest_errors():
            internal_id = self.backend.resolve(record_type, key)
            self.backend.update(record_type, internal_id, body or {})
        return self._written(request, account, record_type, internal_id, warning)

    def record_upsert(self, request: Request, record_type: str, key: str, account: str | None = None) -> Response:
        """PUT /record/v1/{type}/eid:{externalId}: create or update by external id, 204 with its ``Location``."""
        self._authenticate(request, account)
        if not key.startswith("eid:"):
            raise RestError(400, "INVALID_REQUEST", "PUT is allowed only with an external ID (eid:<externalId>).")
        body, warning = self._write_body(request, record_type)
        with _as_rest_errors():
            internal_id, _ = self.backend.upsert(record_type, key[4:], body or {})
        return self._written(request, account, record_type, internal_id, warning)

    def _written(
        self, request: Request, account: str | None, record_type: str, internal_id: str, warning: str | None = None
    ) -> Response:
        location = f"{self._base(request, account)}{RECORD_BASE}/{record_type}/{internal_id}"
        return Response(status=204, headers={"Location": location} | ({WARNING_HEADER: warning} if warning else {}))

    def record_transform(
        self, request: Request, record_type: str, key: str, target: str, account: str | None = None
    ) -> Response:
        """``POST /<type>/<id>/!transform/<target>``: fulfil or bill an order, credit an invoice, refund a credit."""
        self._authenticate(request, account)
        body = _json_body(request) or {}
        transform = _TRANSFORMS.get((record_type.lower(), target.lower()))
        if transform is None:
            raise RestError(400, "INVALID_REQUEST", f"Transforming {record_type} into {target} is not supported.")
        with _as_rest_errors():
            internal_id = self.backend.resolve(record_type, key)
            new_id = transform(self.backend, internal_id, body)
        return self._written(request, account, self.backend.record_type(target).name, new_id)

    def record_get(self, request: Request, record_type: str, key: str, account: str | None = None) -> Response:
        """GET /record/v1/{type}/{id}: one record with links; sublist lines only with ``expandSubResources=true``."""
        self._authenticate(request, account)
        with _as_rest_errors():
            record = self.backend.record_type(record_type)
            internal_id = self.backend.resolve(record_type, key)
            body = self.backend.get(record_type, internal_id=internal_id)
        base = self._base(request, account)
        href = f"{base}{RECORD_BASE}/{record_type}/{internal_id}"
        expand = request.args.get("expandSubResources", "").lower() == "true"
        for name, field_def in record.fields.items():
            if field_def.kind == "ref" and isinstance(body.get(name), dict) and field_def.to != "transaction":
                body[name]["links"] = [
                    {"rel": "self", "href": f"{base}{RECORD_BASE}/{field_def.to}/{body[name]['id']}"}
                ]
        for sublist in (record.lines, "apply" if record.has_apply else None):
            if sublist and sublist in body:
                links = [{"rel": "self", "href": f"{href}/{sublist}"}]
                items = body[sublist]["items"]
                body[sublist] = (
                    {"links": links, "items": items, "totalResults": len(items)} if expand else {"links": links}
                )
        if request.args.get("fields"):
            wanted = {name.strip() for name in request.args["fields"].split(",")}
            body = {k: v for k, v in body.items() if k in wanted or k == "id"}
        return Response(json.dumps({"links": [{"rel": "self", "href": href}], **body}), content_type=_SINGULAR)

    def record_sublist(
        self, request: Request, record_type: str, key: str, sublist: str, account: str | None = None
    ) -> Response:
        """GET /record/v1/{type}/{id}/{sublist}: the sublist's lines as a collection."""
        self._authenticate(request, account)
        with _as_rest_errors():
            internal_id = self.backend.resolve(record_type, key)
            body = self.backend.get(record_type, internal_id=internal_id)
        if not isinstance(body.get(sublist), dict):
            raise RestError(404, "NONEXISTENT_ID", f"The sublist {sublist} does not exist on {record_type}.")
        items = body[sublist]["items"]
        href = f"{self._base(request, account)}{RECORD_BASE}/{record_type}/{internal_id}/{sublist}"
        payload = {"links": [{"rel": "self", "href": href}], "items": items, "totalResults": len(items)}
        return Response(json.dumps(payload), content_type=_COLLECTION)

    def record_list(self, request: Request, record_type: str, account: str | None = None) -> Response:
        """GET /record/v1/{type}?q=: one page of the matching records' ids, with NetSuite's paging links."""
        self._authenticate(request, account)
        limit, offset = _paging(request)
        with _as_rest_errors():
            table = self.backend.table_of(record_type)
            record = self.backend.record_type(record_type)
        try:
            where = parse_record_query(request.args.get("q"), record, table, self.backend.time)
        except RecordQueryError as error:
            raise RestError.invalid_parameter(str(error), "q") from None
        ids, total = self.backend.list_ids(record_type, where, limit=limit, offset=offset)
        base = self._base(request, account)
        items = [{"links": [{"rel": "self", "href": f"{base}{RECORD_BASE}/{record_type}/{i}"}], "id": i} for i in ids]
        page = {
            "links": self._page_links(request, f"{base}{RECORD_BASE}/{record_type}", limit, offset, total),
            "count": len(ids),
            "hasMore": offset + len(ids) < total,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }
        return Response(json.dumps(page), content_type=_COLLECTION)

    @staticmethod
    def _page_links(request: Request, url: str, limit: int, offset: int, total: int) -> list[dict[str, str]]:
        def href(at: int) -> str:
            query = {k: v for k, v in request.args.items() if k not in ("limit", "offset")}
            return f"{url}?{urlencode({**query, 'limit': limit, 'offset': at})}"

        last = max(0, (min(total, MAX_RESULTS) - 1) // limit * limit)
        links = [{"rel": "first", "href": href(0)}]
        if offset > 0:
            links.append({"rel": "prev", "href": href(max(0, offset - limit))})
        if offset + limit < min(total, MAX_RESULTS):
            links.append({"rel": "next", "href": href(offset + limit)})
        links += [{"rel": "last", "href": href(last)}, {"rel": "self", "href": href(offset)}]
        return links

    # -- SuiteQL ------------------------------------------------------------------------------------
    def suiteql(self, request: Request, account: str | None = None) -> Response:
        """POST /query/v1/suiteql: one page of a SuiteQL query; ``Prefer: transient`` is required, as in NetSuite."""
        self._authenticate(request, account)
        if "transient" not in request.headers.get("Prefer", "").lower():
            raise RestError(
                400, "INVALID_REQUEST", "The request header 'Prefer: transient' is required.", errorHeader="Prefer"
            )
        limit, offset = _paging(request)
        if offset >= MAX_RESULTS:
            raise RestError.invalid_parameter(f"SuiteQL returns at most {MAX_RESULTS} results.", "offset")
        body = _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("q"), str):
            raise RestError(400, "INVALID_CONTENT", 'The request body must be {"q": "<SuiteQL query>"}.')
        params = body.get("params") or []
        try:
            page = self.query_engine.run(
                body["q"], [str(p) if isinstance(p, bool) else p for p in params], limit=limit, offset=offset
            )
        except SuiteQLError as error:
            raise RestError(
                400, "INVALID_PARAMETER", f"Invalid search query. Detailed unprocessed description follows. {error}"
            ) from None
        url = f"{self._base(request, account)}/services/rest/query/v1/suiteql"
        payload = {
            "links": self._page_links(request, url, limit, offset, page.total),
            "count": len(page.items),
            "hasMore": page.has_more,
            "offset": offset,
            "totalResults": page.total,
            "items": page.items,
        }
        return json_response(payload)

    def governance_limits(self, request: Request, account: str | None = None) -> Response:
        """GET /system/v1/governanceLimits: the account's concurrency limit, all of it unallocated."""
        self._authenticate(request, account)
        limit = self.governor.limit
        return json_response({"accountConcurrencyLimit": limit, "accountUnallocatedConcurrencyLimit": limit})

    # -- SOAP (the SOAP layer renders its own envelopes and faults) -----------------------------------
    def soap_request(self, request: Request, account: str | None = None) -> Response:
        """POST /services/NetSuitePort_<version>."""
        return self.soap_layer.handle(request)

    def soap_wsdl(self, request: Request, filename: str, account: str | None = None) -> Response:
        """GET /wsdl/v<version>_0/<file>."""
        return self.soap_layer.wsdl(request, filename)
