"""The Salesforce REST API and OAuth endpoints over HTTPS (the moto "responses" layer).

Each handler parses the request, calls the backend and renders Salesforce's exact shape, status and
headers. Every ``/services/data/vXX.X/...`` call needs a session, counts against the daily allowance and
answers with ``Sforce-Limit-Info``. Routing is the table below.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from sfns_pipeline.sandbox.http import HttpService, WireError, json_response
from sfns_pipeline.sandbox.salesforce import errors
from sfns_pipeline.sandbox.salesforce.auth import ApiUsage, OrgAuth, Session
from sfns_pipeline.sandbox.salesforce.backend import MAX_COLLECTION_SIZE, RecordResult, SalesforceBackend
from sfns_pipeline.sandbox.salesforce.ids import make_id
from sfns_pipeline.sandbox.salesforce.query import QueryEngine
from sfns_pipeline.sandbox.salesforce.schema import ObjectDef
from sfns_pipeline.sandbox.salesforce.values import format_datetime, parse_datetime

DATA = "/services/data/v<version>"
DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE, MAX_BATCH_SIZE = 200, 2000
MAX_OPEN_CURSORS = 200


def _rule(path: str, method: str, endpoint: str) -> Rule:
    return Rule(path, methods=[method], endpoint=endpoint)


class SalesforceService(HttpService):
    """HTTPS front of one sandbox org."""

    name = "salesforce"
    routes = [
        _rule("/services/oauth2/token", "POST", "oauth_token"),
        _rule("/services/oauth2/userinfo", "GET", "oauth_userinfo"),
        _rule("/services/oauth2/userinfo", "POST", "oauth_userinfo"),
        _rule("/services/data", "GET", "versions"),
        _rule(DATA, "GET", "resources"),
        _rule(f"{DATA}/limits", "GET", "limits"),
        _rule(f"{DATA}/sobjects", "GET", "describe_global"),
        _rule(f"{DATA}/sobjects/<sobject>", "GET", "sobject_info"),
        _rule(f"{DATA}/sobjects/<sobject>", "POST", "sobject_create"),
        _rule(f"{DATA}/sobjects/<sobject>/describe", "GET", "sobject_describe"),
        _rule(f"{DATA}/sobjects/<sobject>/updated", "GET", "sobject_updated"),
        _rule(f"{DATA}/sobjects/<sobject>/deleted", "GET", "sobject_deleted"),
        _rule(f"{DATA}/sobjects/<sobject>/<record_id>", "GET", "record_get"),
        _rule(f"{DATA}/sobjects/<sobject>/<record_id>", "PATCH", "record_update"),
        _rule(f"{DATA}/sobjects/<sobject>/<record_id>", "DELETE", "record_delete"),
        _rule(f"{DATA}/sobjects/<sobject>/<field>/<path:value>", "GET", "record_get_by_external_id"),
        _rule(f"{DATA}/sobjects/<sobject>/<field>/<path:value>", "PATCH", "record_upsert"),
        _rule(f"{DATA}/query", "GET", "query"),
        _rule(f"{DATA}/queryAll", "GET", "query_all"),
        _rule(f"{DATA}/query/<locator>", "GET", "query_more"),
        _rule(f"{DATA}/queryAll/<locator>", "GET", "query_more"),
        _rule(f"{DATA}/composite/sobjects", "POST", "collection_create"),
        _rule(f"{DATA}/composite/sobjects", "PATCH", "collection_update"),
        _rule(f"{DATA}/composite/sobjects", "DELETE", "collection_delete"),
        _rule(f"{DATA}/composite/sobjects/<sobject>", "GET", "collection_retrieve"),
        _rule(f"{DATA}/composite/sobjects/<sobject>", "POST", "collection_retrieve"),
        _rule(f"{DATA}/composite/sobjects/<sobject>/<field>", "PATCH", "collection_upsert"),
    ]

    def __init__(self, backend: SalesforceBackend, auth: OrgAuth, usage: ApiUsage, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.auth = auth
        self.usage = usage
        self.queries = QueryEngine(backend)
        self._cursors: OrderedDict[str, tuple[list[dict], int]] = OrderedDict()  # locator -> (records, batch size)
        self._cursor_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------------
    def _dispatch(self, request: Request, environ) -> Response:
        try:
            response = super()._dispatch(request, environ)
        except WireError as exc:
            response = exc.to_response()
        if request.path.startswith("/services/data/v"):
            response.headers["Sforce-Limit-Info"] = self.usage.header()
        return response

    def render_fault(self, kind: str, request: Request) -> Response:
        """Injected faults in Salesforce's shapes (a lock inside Collections fails each record)."""
        error = {
            "503": errors.ServerUnavailable,
            "UNABLE_TO_LOCK_ROW": errors.UnableToLockRow,
            "REQUEST_LIMIT_EXCEEDED": errors.RequestLimitExceeded,
        }.get(kind)
        if error is None:
            return super().render_fault(kind, request)
        if kind == "UNABLE_TO_LOCK_ROW" and "/composite/sobjects" in request.path and request.method != "GET":
            records = (request.get_json(silent=True) or {}).get("records") or [{}]
            return json_response([{"success": False, "errors": [error().record_error()]} for _ in records])
        return error().to_response()

    def _session(self, request: Request, version: str | None = None) -> Session:
        """The caller's session (checked before the allowance is charged, like Salesforce)."""
        if version is not None and version not in self.backend.org.api_versions:
            raise errors.NotFound()
        session = self.auth.session(_bearer_token(request))
        self.usage.charge()
        return session

    @staticmethod
    def _json(request: Request) -> Any:
        try:
            return json.loads(request.get_data(as_text=True) or "null")
        except json.JSONDecodeError as exc:
            raise errors.JsonParserError(f"Unexpected character at [line:{exc.lineno}, column:{exc.colno}]") from None

    # -- OAuth --------------------------------------------------------------------------------------
    def oauth_token(self, request: Request) -> Response:
        """Client credentials may come as HTTP Basic (simple-salesforce) or as form fields."""
        basic = None
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise errors.OAuthError("invalid_client", "invalid client credentials") from None
            basic = (client_id, client_secret)
        return json_response(self.auth.grant(request.form.to_dict(), basic))

    def oauth_userinfo(self, request: Request) -> Response:
        """Not an API call: no allowance is charged; a bad token is a plain-text 403, as in Salesforce."""
        try:
            session = self.auth.session(_bearer_token(request))
        except errors.InvalidSession:
            return Response("Bad_OAuth_Token", status=403, content_type="text/plain")
        return json_response(self.auth.userinfo(session))

    # -- discovery ----------------------------------------------------------------------------------
    def versions(self, request: Request) -> Response:
        """GET /services/data: the API versions the org serves; unauthenticated, as in Salesforce."""
        return json_response(
            [
                {"label": label, "url": f"/services/data/v{version}", "version": version}
                for version, label in self.backend.org.api_versions.items()
            ]
        )

    def resources(self, request: Request, version: str) -> Response:
        """GET /services/data/v{version}: the version's resource directory."""
        self._session(request, version)
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite")
        return json_response({name: f"{base}/{name}" for name in names})

    def limits(self, request: Request, version: str) -> Response:
        """GET /limits: org limits; DailyApiRequests reflects the metered usage, the others are fixed."""
        self._session(request, version)
        used = self.usage.used
        return json_response(
            {
                "DailyApiRequests": {"Max": self.usage.daily_limit, "Remaining": max(self.usage.daily_limit - used, 0)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "HourlyPublishedPlatformEvents": {"Max": 250000, "Remaining": 250000},
                "DailyDeliveredPlatformEvents": {"Max": 50000, "Remaining": 50000},
            }
        )

    def describe_global(self, request: Request, version: str) -> Response:
        """GET /sobjects: Describe Global, a summary of every sObject in the org."""
        self._session(request, version)
        objects = [obj.summary(version) for obj in self.backend.org.objects.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    def sobject_info(self, request: Request, version: str, sobject: str) -> Response:
        """GET /sobjects/{sobject}: the sObject's summary (no recent items)."""
        self._session(request, version)
        obj = self.backend.sobject(sobject)
        return json_response({"objectDescribe": obj.summary(version), "recentItems": []})

    def sobject_describe(self, request: Request, version: str, sobject: str) -> Response:
        """GET /sobjects/{sobject}/describe: the full describe of one sObject."""
        self._session(request, version)
        return json_response(self.backend.sobject(sobject).describe(version))

    def sobject_updated(self, request: Request, version: str, sobject: str) -> Response:
        """GET /sobjects/{sobject}/updated: ids of records changed between ``start`` and ``end``."""
        self._session(request, version)
        start, end = _window(request)
        changes = self.backend.changes(sobject, start, end, deleted=False)
        return json_response({"ids": [r["Id"] for r in changes], "latestDateCovered": format_datetime(end)})

    def sobject_deleted(self, request: Request, version: str, sobject: str) -> Response:
        """GET /sobjects/{sobject}/deleted: records deleted between ``start`` and ``end``."""
        self._session(request, version)
        start, end = _window(request)
        changes = self.backend.changes(sobject, start, end, deleted=True)
        return json_response(
            {
                "deletedRecords": [{"id": r["Id"], "deletedDate": r["LastModifiedDate"]} for r in changes],
                "earliestDateAvailable": format_datetime(start),
                "latestDateCovered": format_datetime(end),
            }
        )

    # -- records ------------------------------------------------------------------------------------
    def sobject_create(self, request: Request, version: str, sobject: str) -> Response:
        """POST /sobjects/{sobject}: create a record, or publish a platform event (OPERATION_ENQUEUED with its UUID)."""
        session = self._session(request, version)
        obj = self.backend.sobject(sobject)
        if obj.is_event:
            event_id, published = self.backend.publish_event(obj.name, self._json(request), session.actor)
            enqueued = {"statusCode": "OPERATION_ENQUEUED", "message": published.event_uuid, "fields": []}
            return json_response({"id": event_id, "success": True, "errors": [enqueued]}, 201)
        record_id = self.backend.create(obj.name, self._json(request), session.actor)
        return json_response({"id": record_id, "success": True, "errors": []}, 201)

    def record_get(self, request: Request, version: str, sobject: str, record_id: str) -> Response:
        """GET /sobjects/{sobject}/{id}: one record, all fields or only ``fields``."""
        self._session(request, version)
        obj = self.backend.sobject(sobject)
        fields = _field_list(request.args.get("fields", ""))
        return json_response(self._render(obj, self.backend.get(obj.name, record_id), version, fields))

    def record_update(self, request: Request, version: str, sobject: str, record_id: str) -> Response:
        """PATCH /sobjects/{sobject}/{id}: update one record, 204 No Content."""
        session = self._session(request, version)
        self.backend.update(sobject, record_id, self._json(request), session.actor)
        return Response(status=204)

    def record_delete(self, request: Request, version: str, sobject: str, record_id: str) -> Response:
        """DELETE /sobjects/{sobject}/{id}: delete one record, 204 No Content."""
        session = self._session(request, version)
        self.backend.delete(sobject, record_id, session.actor)
        return Response(status=204)

    def record_get_by_external_id(self, request: Request, version: str, sobject: str, field: str, value: str):
        """GET /sobjects/{sobject}/{field}/{value}: the record with that external id (300 when several match)."""
        self._session(request, version)
        obj = self.backend.sobject(sobject)
        record = self.backend.get_by_external_id(obj.name, field, value)
        return json_response(self._render(obj, record, version, _field_list(request.args.get("fields", ""))))

    def record_upsert(self, request: Request, version: str, sobject: str, field: str, value: str) -> Response:
        """PATCH /sobjects/{sobject}/{field}/{value}: upsert by external id, 201 when created, 200 when updated."""
        session = self._session(request, version)
        record_id, created = self.backend.upsert(sobject, field, value, self._json(request), session.actor)
        # Every served version is >= 46.0, where an update answers 200 with ``created`` (older ones: 204).
        body = {"id": record_id, "success": True, "errors": [], "created": created}
        return json_response(body, 201 if created else 200)

    def _render(self, obj: ObjectDef, record: dict, version: str, fields: list[str]) -> dict[str, Any]:
        """A record with all its fields, or only ``fields`` (INVALID_FIELD for a name the object lacks)."""
        rendered = self.backend.render(obj, record, version)
        if not fields:
            return rendered
        names = {name.lower() for name in fields}
        unknown = sorted(name for name in names if obj.field(name) is None)
        if unknown:
            raise errors.InvalidField(f"No such column '{unknown[0]}' on sobject of type {obj.name}")
        return {k: v for k, v in rendered.items() if k == "attributes" or k.lower() in names}

    # -- SOQL ---------------------------------------------------------------------------------------
    def query(self, request: Request, version: str) -> Response:
        """GET /query?q=: a SOQL query, paged by the ``Sforce-Query-Options`` batch size."""
        return self._run_query(request, version, include_deleted=False)

    def query_all(self, request: Request, version: str) -> Response:
        """GET /queryAll?q=: a SOQL query that also sees deleted records."""
        return self._run_query(request, version, include_deleted=True)

    def _run_query(self, request: Request, version: str, include_deleted: bool) -> Response:
        self._session(request, version)
        soql = request.args.get("q")
        if not soql:
            raise errors.MalformedQuery("A query string has to be specified", error_code="MALFORMED_QUERY")
        result = self.queries.run(soql, include_deleted=include_deleted, version=version)
        records = result.records
        batch = _batch_size(request.headers.get("Sforce-Query-Options", ""))
        if len(records) <= batch:
            return json_response({"totalSize": result.total_size, "done": True, "records": records})
        locator = self._open_cursor(records, batch)
        return json_response(self._page(version, locator, records, 0, batch))

    def query_more(self, request: Request, version: str, locator: str) -> Response:
        """GET /query/{locator} (and /queryAll/{locator}): the next page of an open query cursor."""
        self._session(request, version)
        cursor, _, position = locator.rpartition("-")
        with self._cursor_lock:
            found = self._cursors.get(cursor)
        if found is None or not position.isdigit():
            raise errors.InvalidQueryLocator()
        records, batch = found  # the batch size was fixed when the query ran, as in Salesforce
        return json_response(self._page(version, cursor, records, int(position), batch))

    def _open_cursor(self, records: list[dict], batch: int) -> str:
        with self._cursor_lock:
            locator = make_id("01g", secrets.randbelow(62**9))
            self._cursors[locator] = (records, batch)
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    @staticmethod
    def _page(version: str, locator: str, records: list[dict], start: int, batch: int) -> dict[str, Any]:
        end = min(start + batch, len(records))
        page: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records)}
        if end < len(records):
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        page["records"] = records[start:end]
        return page

    # -- sObject Collections ------------------------------------------------------------------------
    def collection_create(self, request: Request, version: str) -> Response:
        """POST /composite/sobjects: Collections create, one result per record in request order."""
        return self._collection(request, version, "create")

    def collection_update(self, request: Request, version: str) -> Response:
        """PATCH /composite/sobjects: Collections update, one result per record in request order."""
        return self._collection(request, version, "update")

    def collection_upsert(self, request: Request, version: str, sobject: str, field: str) -> Response:
        """PATCH /composite/sobjects/{sobject}/{field}: Collections upsert, one result per record in request order."""
        return self._collection(request, version, "upsert", sobject=sobject, external_id=field)

    def _collection(self, request: Request, version: str, operation: str, **target: str) -> Response:
        session = self._session(request, version)
        body = self._json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise errors.JsonParserError("The request body must be an object with a records array")
        results = self.backend.collection(
            operation, body["records"], session.actor, all_or_none=bool(body.get("allOrNone")), **target
        )
        return json_response([_record_result(r, upsert=operation == "upsert") for r in results])

    def collection_retrieve(self, request: Request, version: str, sobject: str) -> Response:
        """Records by id with chosen fields (query string on GET, JSON body on POST); null for ids not found."""
        self._session(request, version)
        obj = self.backend.sobject(sobject)
        if request.method == "POST":
            body = self._json(request) or {}
            ids, fields = body.get("ids") or [], body.get("fields") or []
        else:
            ids, fields = _field_list(request.args.get("ids", "")), _field_list(request.args.get("fields", ""))
        if not ids or not fields:
            raise errors.SalesforceError("ids and fields are required", error_code="MISSING_ARGUMENT")
        if len(ids) > MAX_COLLECTION_SIZE:
            raise errors.SalesforceError(
                f"Maximum number of ids is {MAX_COLLECTION_SIZE}", error_code="EXCEEDED_ID_LIMIT"
            )
        found: list[dict[str, Any] | None] = []
        for record_id in ids:
            try:
                record = self.backend.get(obj.name, record_id)
            except (errors.NotFound, errors.EntityIsDeleted, errors.MalformedId):
                found.append(None)
            else:
                found.append(self._render(obj, record, version, fields))
        return json_response(found)

    def collection_delete(self, request: Request, version: str) -> Response:
        """DELETE /composite/sobjects?ids=: Collections delete, one result per id in request order."""
        session = self._session(request, version)
        ids = [i for i in request.args.get("ids", "").split(",") if i]
        all_or_none = request.args.get("allOrNone", "false").lower() == "true"
        results = self.backend.collection_delete(ids, session.actor, all_or_none=all_or_none)
        return json_response([_record_result(r, upsert=False) for r in results])


def _field_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() in ("bearer", "oauth") else None


def _record_result(result: RecordResult, *, upsert: bool) -> dict[str, Any]:
    rendered: dict[str, Any] = {"id": result.id, "success": result.success}
    rendered["errors"] = [] if result.success else [result.error.record_error()]
    if upsert and result.success:
        rendered["created"] = result.created
    return rendered


def _window(request: Request) -> tuple[datetime, datetime]:
    """The ``start``/``end`` of a getUpdated/getDeleted call, whole minutes as Salesforce covers them."""
    start, end = (parse_datetime(request.args.get(name, "")) for name in ("start", "end"))
    if start is None or end is None or end <= start:
        raise errors.SalesforceError(
            "start and end must be valid dateTimes, start before end", error_code="INVALID_REPLICATION_DATE"
        )
    return start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)


def _batch_size(header: str) -> int:
    """``Sforce-Query-Options: batchSize=N`` clamped to Salesforce's 200..2000 (a hint, like theirs)."""
    for option in header.split(","):
        name, _, value = option.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return min(max(int(value), MIN_BATCH_SIZE), MAX_BATCH_SIZE)
    return DEFAULT_BATCH_SIZE
