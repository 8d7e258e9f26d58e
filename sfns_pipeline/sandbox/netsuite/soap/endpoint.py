"""NetSuite SuiteTalk SOAP (``/services/NetSuitePort_<version>``) over the sandbox's NetSuite backend.

One request: take a slot of the account's concurrency limit, parse the envelope, validate the Body child
and the NetSuite header children against the sandbox's XSD subset (as NetSuite's Axis deserializer
refuses what does not fit its schema), authenticate (tokenPassport or OAuth 2.0 bearer), run the
operation, and answer with ``documentInfo/nsId`` in the header. Record-level problems are HTTP 200 with
``isSuccess="false"``; request-level problems are SOAP faults (HTTP 500).

Operations: add, update, upsert, upsertList, get, getList, for SalesOrder and Customer.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import threading
from collections.abc import Callable

from lxml import etree
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend, NetSuiteError
from sfns_pipeline.sandbox.netsuite.governance import ConcurrencyLimitExceeded, Governor
from sfns_pipeline.sandbox.netsuite.soap.auth import Credentials, authenticate
from sfns_pipeline.sandbox.netsuite.soap.envelope import (
    CONTENT_TYPE,
    SoapFault,
    body_of,
    concurrency_limit_fault,
    new_envelope,
    parse_envelope,
    record_count_fault,
    sax_fault,
    soap_response,
    unexpected_error_fault,
)
from sfns_pipeline.sandbox.netsuite.soap.records import (
    KINDS_BY_REST_TYPE,
    RECORD_KINDS,
    RecordKind,
    render_record,
    to_rest,
    xsi_type,
)
from sfns_pipeline.sandbox.netsuite.soap.xsd import (
    DEFAULT_VERSION,
    SCHEMA_FILES,
    WSDL_FILE,
    XSI_NS,
    Namespaces,
    check_version,
    documents,
    status_codes,
    validator,
    wsdl_for,
)

log = logging.getLogger(__name__)

LIST_LIMITS = {"upsertList": 100, "getList": 1000}  # sync per-request record limits (netsuite-facts.md §6)
_ABSTRACT_TYPES = {"record": "Record", "baseRef": "BaseRef", "customField": "CustomFieldRef"}
_ENUMERATION_SET = re.compile(r" is not an element of the set \{.*\}\.?", re.DOTALL)


def render_soap_fault(kind: str, version: str = DEFAULT_VERSION) -> Response:
    """An injected fault as SuiteTalk answers it, for the NetSuite HTTP service's ``render_fault`` on SOAP paths.

    ``WS_REQUEST_BLOCKED``: the concurrency fault (HTTP 500); ``UNEXPECTED_ERROR``: ``unexpectedErrorFault``
    (HTTP 500); ``"503"`` (or any other status number): the load balancer's HTML page with that status, which
    zeep reports as a ``TransportError``. Any other kind is an unexpected error.
    """
    if kind == "WS_REQUEST_BLOCKED":
        return concurrency_limit_fault(version).to_response()
    if kind.isdigit():
        title = HTTP_STATUS_CODES.get(int(kind), "Error")
        page = f"<html><head><title>{title}</title></head><body><h1>{kind} {title}</h1></body></html>"
        return Response(page, status=int(kind), content_type="text/html; charset=utf-8")
    return unexpected_error_fault(version).to_response()


class SoapEndpoint:
    """The SuiteTalk SOAP endpoint and its WSDL, for one endpoint version."""

    def __init__(
        self,
        *,
        backend: NetSuiteBackend,
        governor: Governor,
        credentials: Credentials,
        clock: SandboxClock,
        version: str = DEFAULT_VERSION,
    ) -> None:
        self.backend = backend
        self.governor = governor
        self.credentials = credentials
        self.clock = clock
        self.version = check_version(version)
        self.ns = Namespaces(version)
        self._schema = validator(version)
        self._schema_lock = threading.Lock()  # an XMLSchema's error_log is per object, so validate one at a time
        self._sequence = itertools.count(1)
        self._operations: dict[str, Callable[[etree._Element], etree._Element]] = {
            "add": self._add,
            "update": self._update,
            "upsert": self._upsert,
            "upsertList": self._upsert_list,
            "get": self._get,
            "getList": self._get_list,
        }

    @property
    def path(self) -> str:
        """Where the SOAP port listens."""
        return f"/services/NetSuitePort_{self.version}"

    def render_fault(self, kind: str, request: Request | None = None) -> Response:
        """:func:`render_soap_fault` for this endpoint's version (the HTTP service's fault hook)."""
        return render_soap_fault(kind, self.version)

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def wsdl(self, request: Request, filename: str) -> Response:
        """``GET /wsdl/v<version>_0/<filename>``: the WSDL (addressed to this host) or one of the XSDs it imports."""
        if filename == WSDL_FILE:
            # The port lives beside the WSDL, under the same account prefix (``/<account>/wsdl/...``) if any.
            prefix = request.base_url.rsplit(f"/wsdl/v{self.version}_0/", 1)[0]
            body = wsdl_for(self.version, prefix + self.path)
        elif filename in SCHEMA_FILES:
            body = documents(self.version)[filename]
        else:
            return Response("Not Found", status=404, content_type="text/plain")
        return Response(body, content_type=CONTENT_TYPE)

    def handle(self, request: Request) -> Response:
        """``POST /services/NetSuitePort_<version>``: one SOAP request, inside a concurrency slot."""
        try:
            with self.governor.slot():
                return self._respond(request)
        except ConcurrencyLimitExceeded:
            return concurrency_limit_fault(self.version).to_response()
        except SoapFault as fault:
            return fault.to_response()
        except Exception:
            log.exception("NetSuite sandbox SOAP: unexpected error")
            return unexpected_error_fault(self.version).to_response()

    def _respond(self, request: Request) -> Response:
        envelope = parse_envelope(request.get_data(), self.version)
        netsuite_headers = tuple(h for h in envelope.headers if etree.QName(h).namespace == self.ns.messages)
        for element in (*netsuite_headers, envelope.body):
            self._validate(element)
        operation = self._operations.get(etree.QName(envelope.body).localname)
        if operation is None or etree.QName(envelope.body).namespace != self.ns.messages:
            raise SoapFault(
                f"No such operation '{etree.QName(envelope.body).localname}'",
                faultcode="soapenv:Client",
                version=self.version,
            )
        authenticate(
            envelope.headers,
            request.headers.get("Authorization"),
            credentials=self.credentials,
            now=self.clock.now(),
            ns=self.ns,
        )
        reply = new_envelope(self.ns, header_children=(self._document_info(),))
        body_of(reply).append(operation(envelope.body))
        return soap_response(reply)

    def _validate(self, element: etree._Element) -> None:
        with self._schema_lock:
            if self._schema.validate(element):
                return
            error = next(iter(self._schema.error_log))
        raise sax_fault(self._sax_message(error.message), self.version)

    def _sax_message(self, message: str) -> str:
        """Axis's words for an abstract type; otherwise the validator's, shortened."""
        if "The type definition is abstract" in message:
            local = message.split("'", 2)[1].rsplit("}", 1)[-1]
            return (
                f"{{{self.ns.core}}}{_ABSTRACT_TYPES.get(local, local)} is an abstract type and cannot be instantiated"
            )
        # Enumeration errors list every allowed value (252 countries): say which value, not the whole set.
        message = _ENUMERATION_SET.sub(" is not an allowed value.", message)
        return message.split(" Expected is", 1)[0]

    def _document_info(self) -> etree._Element:
        messages = self.ns.messages
        info = etree.Element(f"{{{messages}}}documentInfo", nsmap={"platformMsgs": messages})
        stamp = self.clock.now().strftime("%m%d%Y%H%M%S")
        ns_id = f"WEBSERVICES_{self.credentials.account_id}_{stamp}{next(self._sequence):013d}_{secrets.token_hex(6)}"
        etree.SubElement(info, f"{{{messages}}}nsId").text = ns_id
        return info

    # -- responses ----------------------------------------------------------------------------------------------
    def _element(self, parent: etree._Element | None, name: str) -> etree._Element:
        tag = f"{{{self.ns.messages}}}{name}"
        if parent is None:
            return etree.Element(tag, nsmap=self.ns.prefixes())  # NetSuite's prefixes, for the xsi:type values
        return etree.SubElement(parent, tag)

    def _status(self, parent: etree._Element, error: NetSuiteError | None = None) -> None:
        core = self.ns.core
        status = etree.SubElement(parent, f"{{{core}}}status", isSuccess="false" if error else "true")
        if error is not None:
            detail = etree.SubElement(status, f"{{{core}}}statusDetail", type="ERROR")
            code = error.code if error.code in status_codes(self.version) else "USER_ERROR"
            etree.SubElement(detail, f"{{{core}}}code").text = code
            etree.SubElement(detail, f"{{{core}}}message").text = error.message

    def _response(self, operation: str, holder: str) -> tuple[etree._Element, etree._Element]:
        response = self._element(None, f"{operation}Response")
        return response, self._element(response, holder)

    # -- operations ---------------------------------------------------------------------------------------------
    def _records(self, body: etree._Element) -> list[etree._Element]:
        return list(body.iterfind(f"{{{self.ns.messages}}}record"))

    def _kind(self, record: etree._Element) -> RecordKind:
        _, type_name = xsi_type(record)
        kind = RECORD_KINDS.get(type_name or "")
        if kind is None:
            raise NetSuiteError("INVALID_RCRD_TYPE", f"The record type {type_name} is not supported by this operation.")
        return kind

    def _write(self, parent: etree._Element, record: etree._Element, action: Callable) -> None:
        """One ``writeResponse``: the backend's verdict on one record, never a fault."""
        response = self._element(parent, "writeResponse")
        try:
            kind = self._kind(record)
            internal_id, external_id = action(kind, record, to_rest(record, kind.shape, self.ns))
        except NetSuiteError as error:
            self._status(response, error)
            return
        self._status(response)
        base_ref = self._element(response, "baseRef")
        base_ref.set(f"{{{XSI_NS}}}type", "platformCore:RecordRef")
        base_ref.set("internalId", internal_id)
        if external_id:
            base_ref.set("externalId", external_id)
        base_ref.set("type", kind.rest_type)

    def _added(self, kind: RecordKind, record: etree._Element, fields: dict) -> tuple[str, str | None]:
        external_id = record.get("externalId")
        return self.backend.create(kind.rest_type, fields, external_id=external_id), external_id

    def _updated(self, kind: RecordKind, record: etree._Element, fields: dict) -> tuple[str, str | None]:
        internal_id, external_id = record.get("internalId"), record.get("externalId")
        if internal_id is None and external_id is None:
            raise NetSuiteError("USER_ERROR", "You must specify an internalId or externalId for this operation.")
        if internal_id is None:
            internal_id = self.backend.resolve(kind.rest_type, f"eid:{external_id}")
        self.backend.update(kind.rest_type, internal_id, fields)
        return internal_id, external_id

    def _upserted(self, kind: RecordKind, record: etree._Element, fields: dict) -> tuple[str, str | None]:
        if record.get("internalId") is not None:
            raise NetSuiteError("USER_ERROR", "You cannot set internalId with upsert.", "internalId")
        external_id = record.get("externalId") or ""
        internal_id, _created = self.backend.upsert(kind.rest_type, external_id, fields)
        return internal_id, external_id

    def _single_write(self, operation: str, action: Callable, body: etree._Element) -> etree._Element:
        response = self._element(None, f"{operation}Response")
        self._write(response, self._records(body)[0], action)
        return response

    def _add(self, body: etree._Element) -> etree._Element:
        return self._single_write("add", self._added, body)

    def _update(self, body: etree._Element) -> etree._Element:
        return self._single_write("update", self._updated, body)

    def _upsert(self, body: etree._Element) -> etree._Element:
        return self._single_write("upsert", self._upserted, body)

    def _upsert_list(self, body: etree._Element) -> etree._Element:
        records = self._records(body)
        self._check_count("upsertList", len(records))
        response, holder = self._response("upsertList", "writeResponseList")
        self._status(holder)
        for record in records:  # each record succeeds or fails on its own
            self._write(holder, record, self._upserted)
        return response

    def _read(self, parent: etree._Element, base_ref: etree._Element) -> None:
        """One ``readResponse``: the record, or why it cannot be read."""
        response = self._element(parent, "readResponse")
        kind = KINDS_BY_REST_TYPE.get(base_ref.get("type") or "")
        try:
            if kind is None:
                raise NetSuiteError("INVALID_RCRD_TYPE", f"Invalid record type: {base_ref.get('type')}.")
            data = self.backend.get(
                kind.rest_type, internal_id=base_ref.get("internalId"), external_id=base_ref.get("externalId")
            )
        except NetSuiteError as error:
            self._status(response, error)
            return
        self._status(response)
        render_record(response, f"{{{self.ns.messages}}}record", kind, data, self.ns)

    def _base_refs(self, body: etree._Element) -> list[etree._Element]:
        return list(body.iterfind(f"{{{self.ns.messages}}}baseRef"))

    def _get(self, body: etree._Element) -> etree._Element:
        response = self._element(None, "getResponse")
        self._read(response, self._base_refs(body)[0])
        return response

    def _get_list(self, body: etree._Element) -> etree._Element:
        base_refs = self._base_refs(body)
        self._check_count("getList", len(base_refs))
        response, holder = self._response("getList", "readResponseList")
        self._status(holder)
        for base_ref in base_refs:
            self._read(holder, base_ref)
        return response

    def _check_count(self, operation: str, count: int) -> None:
        if count > LIST_LIMITS[operation]:
            raise record_count_fault(self.version, operation, LIST_LIMITS[operation])
