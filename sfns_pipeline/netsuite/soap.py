"""NetSuite SuiteTalk SOAP client (zeep) for sales orders.

The WSDL is loaded once (from a local copy, or a URL through :func:`sfns_pipeline.http.make_session`, so
the configured CA is trusted), and the service is pointed at the account's SOAP URL: the WSDL's own
address is NetSuite's generic data centre. Every call carries a fresh ``tokenPassport`` (a passport is
accepted once) or, with OAuth 2.0, an ``Authorization: Bearer`` header.

With OAuth 2.0, pass ``access_token=OAuth2ClientCredentials(...).access_token`` (:mod:`.auth`), which
renews the token before it expires.

Records are plain dicts in zeep's SalesOrder shape (``entity={"internalId": "12"}``,
``itemList={"item": [...]}``, ``price={"internalId": "-1"}`` with ``rate`` as a string, address
``country="_unitedStates"``), with one convenience: ``customFieldList`` may be a mapping of script id to
value, turned into the typed ``*CustomFieldRef`` NetSuite needs (str, bool, int, float, date/datetime,
``{"internalId": ..}`` for a list/record value).

Faults become typed exceptions: :class:`NetSuiteConcurrencyLimit` (retryable), :class:`NetSuiteAuthError`,
and :class:`NetSuiteSoapError` for the rest; record-level errors are returned in :class:`WriteResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.helpers import serialize_object
from zeep.transports import Transport

from sfns_pipeline.http import make_session
from sfns_pipeline.netsuite import auth
from sfns_pipeline.netsuite.tba import token_passport


class NetSuiteSoapError(Exception):
    """A SOAP request failed as a whole (a fault or a transport error); ``retryable`` says whether to try again."""

    retryable = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class NetSuiteConcurrencyLimit(NetSuiteSoapError):
    """``WS_REQUEST_BLOCKED``: the account's concurrent request limit is in use; retry with backoff."""

    retryable = True


class NetSuiteAuthError(NetSuiteSoapError, auth.NetSuiteAuthError):
    """NetSuite said "Invalid login attempt." (signature, timestamp, nonce, token) or got no credentials.

    Never retried. Also an :class:`sfns_pipeline.netsuite.auth.NetSuiteAuthError`: one ``except`` covers REST and SOAP.
    """


@dataclass(frozen=True)
class StatusDetail:
    """One ``platformCore:statusDetail``."""

    code: str | None
    message: str | None
    type: str = "ERROR"


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing one record; ``success=False`` is a record-level error, not an exception."""

    internal_id: str | None
    external_id: str | None
    success: bool
    status_details: tuple[StatusDetail, ...] = ()


@dataclass(frozen=True)
class TbaCredentials:
    """A TBA integration + access token; ``repr`` never shows the secrets."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str
    token_secret: str = field(repr=False)

    def passport(self) -> dict[str, Any]:
        """A freshly signed tokenPassport."""
        return token_passport(
            self.account_id, self.consumer_key, self.consumer_secret, self.token_id, self.token_secret
        )


class _Transport(Transport):
    """zeep's transport, except that an error page that is not XML (a load balancer's 503) is a TransportError.

    zeep would parse an HTML page as XML and report an "Unknown fault", losing the HTTP status that says
    whether a retry can help.
    """

    def post_xml(self, address, envelope, headers):
        response = super().post_xml(address, envelope, headers)
        if response.status_code != 200 and "xml" not in response.headers.get("Content-Type", ""):
            raise zeep.exceptions.TransportError(status_code=response.status_code, content=response.content)
        return response


class _BearerPlugin(zeep.Plugin):
    """Adds ``Authorization: Bearer`` (OAuth 2.0) to every request."""

    def __init__(self, access_token: Callable[[], str]) -> None:
        self._access_token = access_token

    def egress(self, envelope, http_headers, operation, binding_options):
        http_headers["Authorization"] = f"Bearer {self._access_token()}"
        return envelope, http_headers


class NetSuiteSoapClient:
    """SuiteTalk SOAP for one account: ``upsert_sales_order`` and ``get_sales_order``."""

    def __init__(
        self,
        *,
        wsdl: str | Path,
        soap_url: str,
        credentials: TbaCredentials | None = None,
        access_token: Callable[[], str] | None = None,
        version: str = "2023_2",
        ca_bundle: str | Path | None = None,
        timeout: float = 60.0,
        plugins: Iterable[zeep.Plugin] = (),
    ) -> None:
        if (credentials is None) == (access_token is None):
            raise ValueError("give exactly one of credentials (TBA) or access_token (OAuth 2.0)")
        self._credentials = credentials
        self._version = version
        all_plugins = [*plugins, *([_BearerPlugin(access_token)] if access_token else [])]
        transport = _Transport(session=make_session(ca_bundle), timeout=timeout, operation_timeout=timeout)
        # strict=False: NetSuite adds elements between versions; xml_huge_tree: large get responses.
        settings = zeep.Settings(strict=False, xml_huge_tree=True)
        self.client = zeep.Client(str(wsdl), transport=transport, settings=settings, plugins=all_plugins)
        binding = f"{{urn:platform_{version}.webservices.netsuite.com}}NetSuiteBinding"
        self.service = self.client.create_service(binding, soap_url)

    def _ns(self, name: str, area: str = "platform") -> str:
        return f"urn:{name}_{self._version}.{area}.webservices.netsuite.com"

    # -- records ------------------------------------------------------------------------------------------------
    def _custom_fields(self, values: Mapping[str, Any]) -> dict[str, list]:
        """``{"custbody_x": "v"}`` -> a customFieldList of typed refs (NetSuite needs the concrete xsi:type)."""
        core = self._ns("core")
        refs = []
        for script_id, value in values.items():
            if isinstance(value, bool):
                type_name = "BooleanCustomFieldRef"
            elif isinstance(value, int):
                type_name = "LongCustomFieldRef"
            elif isinstance(value, float):
                type_name = "DoubleCustomFieldRef"
            elif isinstance(value, date | datetime):
                # A dateTime field; a date goes as its midnight, which NetSuite reads as Pacific time.
                type_name = "DateCustomFieldRef"
                value = value if isinstance(value, datetime) else datetime.combine(value, time())
            elif isinstance(value, Mapping):
                type_name = "SelectCustomFieldRef"
            else:
                type_name, value = "StringCustomFieldRef", str(value)
            refs.append(self.client.get_type(f"{{{core}}}{type_name}")(scriptId=script_id, value=value))
        return {"customField": refs}

    def _with_custom_fields(self, values: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(values)
        custom = out.get("customFieldList")
        if isinstance(custom, Mapping) and "customField" not in custom:
            out["customFieldList"] = self._custom_fields(custom)
        return out

    def _sales_order(self, record: Mapping[str, Any]) -> Any:
        fields = self._with_custom_fields(record)
        item_list = fields.get("itemList")
        if isinstance(item_list, Mapping):
            lines = [self._with_custom_fields(line) for line in item_list.get("item", [])]
            fields["itemList"] = {**item_list, "item": lines}
        return self.client.get_type(f"{{{self._ns('sales', 'transactions')}}}SalesOrder")(**fields)

    # -- calls --------------------------------------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> Any:
        headers = {"tokenPassport": self._credentials.passport()} if self._credentials else None
        try:
            return getattr(self.service, operation)(**kwargs, _soapheaders=headers)
        except zeep.exceptions.Fault as fault:
            raise _fault_error(fault) from None
        except zeep.exceptions.TransportError as exc:
            retryable = exc.status_code in (429, 500, 502, 503, 504)
            raise NetSuiteSoapError(f"HTTP {exc.status_code} from NetSuite SOAP", retryable=retryable) from None
        except requests.exceptions.SSLError:
            raise  # a trust problem (wrong CA bundle): configuration, not an outage
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise NetSuiteSoapError(f"NetSuite SOAP unreachable: {exc}", retryable=True) from None

    def upsert_sales_order(self, record: Mapping[str, Any]) -> WriteResult:
        """Create or update the sales order keyed by ``record["externalId"]`` (the Salesforce Order id)."""
        if not record.get("externalId"):
            raise ValueError("upsert needs the record's externalId")
        response = self._call("upsert", record=self._sales_order(record))
        return _write_result(response.body.writeResponse)

    def get_sales_order(self, *, internal_id: str | None = None, external_id: str | None = None) -> dict[str, Any]:
        """The sales order as a plain dict (custom fields as ``{script id: value}``); raises if it cannot be read."""
        if (internal_id is None) == (external_id is None):
            raise ValueError("give exactly one of internal_id or external_id")
        ref_type = self.client.get_type(f"{{{self._ns('core')}}}RecordRef")
        base_ref = ref_type(internalId=internal_id, externalId=external_id, type="salesOrder")
        read = self._call("get", baseRef=base_ref).body.readResponse
        if not read.status.isSuccess:
            detail = _details(read.status)[0] if _details(read.status) else StatusDetail(None, "get failed")
            raise NetSuiteSoapError(detail.message or "get failed", code=detail.code)
        return _plain(serialize_object(read.record, dict))


def _details(status: Any) -> tuple[StatusDetail, ...]:
    return tuple(StatusDetail(d.code, d.message, d.type or "ERROR") for d in status.statusDetail or [])


def _write_result(response: Any) -> WriteResult:
    base_ref = response.baseRef
    return WriteResult(
        internal_id=getattr(base_ref, "internalId", None),
        external_id=getattr(base_ref, "externalId", None),
        success=bool(response.status.isSuccess),
        status_details=_details(response.status),
    )


def _plain(record: Any) -> Any:
    """Drop zeep's empty fields and flatten every customFieldList to ``{script id: value}``."""
    if isinstance(record, list):
        return [_plain(item) for item in record]
    if not isinstance(record, dict):
        return record
    out = {}
    for key, value in record.items():
        if value is None or value == []:
            continue
        if key == "customFieldList":
            out[key] = {custom["scriptId"]: _plain(custom["value"]) for custom in value["customField"]}
        else:
            out[key] = _plain(value)
    return out


def _fault_error(fault: zeep.exceptions.Fault) -> NetSuiteSoapError:
    """Map a SOAP fault to its exception by the ``platformFaults`` element in its detail."""
    detail = fault.detail if isinstance(fault.detail, etree._Element) else []
    faults = (child for child in detail if isinstance(child.tag, str) and child.tag.endswith("Fault"))
    element = next(faults, None)
    kind = etree.QName(element).localname if element is not None else None
    code = element.findtext("{*}code") if element is not None else None
    message = fault.message or ""
    if kind == "exceededConcurrentRequestLimitFault" or code == "WS_REQUEST_BLOCKED":
        return NetSuiteConcurrencyLimit(message, code=code)
    if kind in ("invalidCredentialsFault", "invalidSessionFault") or "Invalid login attempt" in message:
        return NetSuiteAuthError(message, code=code)
    return NetSuiteSoapError(message, code=code, retryable=kind == "unexpectedErrorFault")
