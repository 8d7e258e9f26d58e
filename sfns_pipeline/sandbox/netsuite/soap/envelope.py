"""SOAP 1.1 envelopes and faults as NetSuite's Axis-based SuiteTalk sends them.

A fault fails the whole request: HTTP 500, ``faultcode soapenv:Server.userException``, a ``faultstring`` and a
``detail`` holding a ``platformFaults:<kind>Fault{code, message}`` plus Axis's ``ns1:hostname``. A request
the schema refuses gets the same envelope with only ``org.xml.sax.SAXException: ...`` and the hostname.
Every response is built with lxml; values are never spliced into XML text.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

from lxml import etree
from werkzeug.wrappers import Response

from sfns_pipeline.sandbox.http import WireError
from sfns_pipeline.sandbox.netsuite.soap.xsd import AXIS_NS, DEFAULT_VERSION, SOAP_ENV_NS, XSD_NS, XSI_NS, Namespaces

CONTENT_TYPE = "text/xml; charset=utf-8"
HOSTNAME = socket.gethostname()

# Incoming envelopes: no DTDs, entities or network, and no huge trees (NetSuite caps requests at 100 MB anyway).
_REQUEST_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def soap_response(root: etree._Element, status: int = 200) -> Response:
    """An envelope as the HTTP response NetSuite sends."""
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, status=status, content_type=CONTENT_TYPE)


def new_envelope(ns: Namespaces, *, header_children: tuple[etree._Element, ...] = ()) -> etree._Element:
    """An empty ``soapenv:Envelope`` (with Header when there is something to put in it) and its Body."""
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soapenv": SOAP_ENV_NS, "xsd": XSD_NS, "xsi": XSI_NS})
    if header_children:
        header = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Header")
        header.extend(header_children)
    etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    return envelope


def body_of(envelope: etree._Element) -> etree._Element:
    """The envelope's ``soapenv:Body`` element."""
    return envelope.find(f"{{{SOAP_ENV_NS}}}Body")


class SoapFault(WireError):
    """A SuiteTalk fault. ``fault`` names the ``platformFaults`` element (None for a SAX/parse fault)."""

    status = 500

    def __init__(
        self,
        faultstring: str,
        *,
        fault: str | None = None,
        code: str | None = None,
        version: str = DEFAULT_VERSION,
        faultcode: str = "soapenv:Server.userException",
    ) -> None:
        super().__init__(faultstring)
        self.faultstring = faultstring
        self.fault = fault
        self.code = code
        self.ns = Namespaces(version)
        self.faultcode = faultcode

    def envelope(self) -> etree._Element:
        """The fault envelope (validated in tests: the detail's fault element against NetSuite's faults.xsd)."""
        envelope = new_envelope(self.ns)
        fault = etree.SubElement(body_of(envelope), f"{{{SOAP_ENV_NS}}}Fault")
        etree.SubElement(fault, "faultcode").text = self.faultcode
        etree.SubElement(fault, "faultstring").text = self.faultstring
        detail = etree.SubElement(fault, "detail")
        if self.fault is not None:
            faults = self.ns.faults
            element = etree.SubElement(detail, f"{{{faults}}}{self.fault}", nsmap={"platformFaults": faults})
            etree.SubElement(element, f"{{{faults}}}code").text = self.code
            etree.SubElement(element, f"{{{faults}}}message").text = self.faultstring
        etree.SubElement(detail, f"{{{AXIS_NS}}}hostname", nsmap={"ns1": AXIS_NS}).text = HOSTNAME
        return envelope

    def to_response(self) -> Response:
        """The fault envelope with the fault's HTTP status."""
        return soap_response(self.envelope(), self.status)


# -- the faults NetSuite documents (netsuite-facts.md §2.3, §6) ---------------------------------------------------


def concurrency_limit_fault(version: str) -> SoapFault:
    """TBA/OAuth over the account's concurrency limit."""
    return SoapFault(
        "SuiteTalk concurrent request limit exceeded. Request blocked.",
        fault="exceededConcurrentRequestLimitFault",
        code="WS_REQUEST_BLOCKED",
        version=version,
    )


def invalid_login_fault(version: str) -> SoapFault:
    """Any TBA or token failure: NetSuite shows the reason only in its Login Audit Trail, never on the wire."""
    return SoapFault(
        "Invalid login attempt.", fault="invalidCredentialsFault", code="INVALID_LOGIN_CREDENTIALS", version=version
    )


def ambiguous_authentication_fault(version: str) -> SoapFault:
    """Two authentication methods on one request."""
    return SoapFault("Ambiguous authentication", fault="invalidCredentialsFault", code="USER_ERROR", version=version)


def login_required_fault(version: str) -> SoapFault:
    """No credentials at all (2023_2 has no ``passport`` header, so there is no session to fall back on)."""
    return SoapFault(
        "You must log in before performing a web service operation.",
        fault="invalidSessionFault",
        code="WS_LOG_IN_REQD",
        version=version,
    )


def record_count_fault(version: str, operation: str, limit: int) -> SoapFault:
    """A list operation over its per-request record limit."""
    return SoapFault(
        f"The {operation} operation is limited to {limit} records per request.",
        fault="exceededRecordCountFault",
        code="MAX_RCRDS_EXCEEDED",
        version=version,
    )


def unexpected_error_fault(version: str) -> SoapFault:
    """NetSuite's catch-all server error, with the error id support would ask for."""
    error_id = secrets.token_hex(4) + secrets.token_hex(8)
    return SoapFault(
        f"An unexpected error occurred. Error ID: {error_id}",
        fault="unexpectedErrorFault",
        code="UNEXPECTED_ERROR",
        version=version,
    )


def sax_fault(message: str, version: str) -> SoapFault:
    """What Axis answers when it cannot deserialize the request (schema violations, broken XML)."""
    return SoapFault(f"org.xml.sax.SAXException: {message}", version=version)


@dataclass(frozen=True)
class Envelope:
    """The parts of a request envelope the endpoint works with."""

    headers: tuple[etree._Element, ...]
    body: etree._Element


def parse_envelope(data: bytes, version: str) -> Envelope:
    """Split a SOAP 1.1 request into its header children and its single body child."""
    try:
        root = etree.fromstring(data, _REQUEST_PARSER)
    except etree.XMLSyntaxError as exc:
        raise sax_fault(f"Fatal Error: {exc.msg}", version) from None
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise SoapFault("No SOAP 1.1 envelope in the request.", faultcode="soapenv:VersionMismatch", version=version)
    header = root.find(f"{{{SOAP_ENV_NS}}}Header")
    body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    children = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    if len(children) != 1:
        raise sax_fault("The SOAP Body must hold exactly one operation element.", version)
    headers = tuple(child for child in header if isinstance(child.tag, str)) if header is not None else ()
    return Envelope(headers=headers, body=children[0])
