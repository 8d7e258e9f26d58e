"""The sandbox's own SuiteTalk WSDL and XSD subset, rendered for a version, and the validator built from it.

The files under ``wsdl/`` are NetSuite's schema cut down to what the sandbox emulates, with NetSuite's
namespaces, type names and element order. They are templates: ``${version}`` stands for the endpoint
version (``2023_2``), which NetSuite puts in every namespace, so one set serves any configured version.
Incoming Body and Header children are validated against this set, which is how the sandbox refuses what
NetSuite refuses (a record without ``xsi:type``, fields out of order or in the wrong namespace, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from lxml import etree

XSD_NS = "http://www.w3.org/2001/XMLSchema"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
AXIS_NS = "http://xml.apache.org/axis/"

DEFAULT_VERSION = "2023_2"
VERSION_PATTERN = re.compile(r"^20\d\d_[12]$")

WSDL_FILE = "netsuite.wsdl"
SCHEMA_FILES = (
    "platform.core.xsd",
    "platform.coreTypes.xsd",
    "platform.common.xsd",
    "platform.commonTypes.xsd",
    "platform.faults.xsd",
    "platform.faultTypes.xsd",
    "platform.messages.xsd",
    "transactions.sales.xsd",
    "transactions.saleTypes.xsd",
    "lists.relationships.xsd",
)

# Parsing our own packaged files: still no network and no entities, like every parser in the sandbox.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@dataclass(frozen=True)
class Namespaces:
    """NetSuite's namespace URIs for one endpoint version."""

    version: str

    def _urn(self, name: str, area: str) -> str:
        return f"urn:{name}_{self.version}.{area}.webservices.netsuite.com"

    @property
    def platform(self) -> str:
        """``urn:platform_<version>.webservices.netsuite.com``."""
        return f"urn:platform_{self.version}.webservices.netsuite.com"

    @property
    def messages(self) -> str:
        """The ``platform.messages`` namespace."""
        return self._urn("messages", "platform")

    @property
    def core(self) -> str:
        """The ``platform.core`` namespace."""
        return self._urn("core", "platform")

    @property
    def common(self) -> str:
        """The ``platform.common`` namespace."""
        return self._urn("common", "platform")

    @property
    def faults(self) -> str:
        """The ``platform.faults`` namespace."""
        return self._urn("faults", "platform")

    @property
    def sales(self) -> str:
        """The ``transactions.sales`` namespace."""
        return self._urn("sales", "transactions")

    @property
    def relationships(self) -> str:
        """The ``lists.relationships`` namespace."""
        return self._urn("relationships", "lists")

    def prefixes(self) -> dict[str, str]:
        """The prefixes NetSuite itself uses in responses."""
        return {
            "platformMsgs": self.messages,
            "platformCore": self.core,
            "platformCommon": self.common,
            "platformFaults": self.faults,
            "tranSales": self.sales,
            "listRel": self.relationships,
            "xsi": XSI_NS,
        }


def check_version(version: str) -> str:
    """``version`` if it is a SuiteTalk endpoint version such as ``2023_2``."""
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"not a SuiteTalk version: {version!r} (expected e.g. 2023_2)")
    return version


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("wsdl", name).read_text(encoding="utf-8")


@cache
def countries() -> dict[str, str]:
    """NetSuite's Country enumeration value -> ISO 3166 alpha-2 code (``_unitedStates`` -> ``US``)."""
    raw = json.loads(resources.files(__package__).joinpath("countries.json").read_text(encoding="utf-8"))
    return raw["countries"]


def _with_countries(document: bytes) -> bytes:
    root = etree.fromstring(document, _PARSER)
    restriction = root.find(f"{{{XSD_NS}}}simpleType[@name='Country']/{{{XSD_NS}}}restriction")
    for value in countries():
        etree.SubElement(restriction, f"{{{XSD_NS}}}enumeration", value=value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@cache
def documents(version: str) -> dict[str, bytes]:
    """Every schema file and the WSDL, rendered for ``version`` (the WSDL still has NetSuite's address)."""
    check_version(version)
    rendered = {
        name: Template(_template(name)).substitute(version=version).encode() for name in (WSDL_FILE, *SCHEMA_FILES)
    }
    rendered["platform.commonTypes.xsd"] = _with_countries(rendered["platform.commonTypes.xsd"])
    return rendered


def wsdl_for(version: str, address: str) -> bytes:
    """The WSDL whose ``soap:address`` is ``address`` (the sandbox's own SOAP URL)."""
    root = etree.fromstring(documents(version)[WSDL_FILE], _PARSER)
    for element in root.iter(f"{{{WSDL_SOAP_NS}}}address"):
        element.set("location", address)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class _PackagedSchemas(etree.Resolver):
    """Resolves the relative ``schemaLocation``s between our files from memory, never from disk or network."""

    def __init__(self, version: str) -> None:
        super().__init__()
        self._documents = documents(version)

    def resolve(self, system_url, public_id, context):
        name = system_url.rsplit("/", 1)[-1]
        if name in self._documents:
            return self.resolve_string(self._documents[name], context, base_url=f"sfns-netsuite:/{name}")
        return None


@cache
def validator(version: str) -> etree.XMLSchema:
    """One schema over every namespace of the subset (messages, core, common, faults, sales, relationships)."""
    ns = Namespaces(check_version(version))
    wrapper = etree.Element(f"{{{XSD_NS}}}schema", nsmap={"xsd": XSD_NS})
    imports = {
        ns.messages: "platform.messages.xsd",
        ns.core: "platform.core.xsd",
        ns.common: "platform.common.xsd",
        ns.faults: "platform.faults.xsd",
        ns.sales: "transactions.sales.xsd",
        ns.relationships: "lists.relationships.xsd",
    }
    for namespace, location in imports.items():
        etree.SubElement(wrapper, f"{{{XSD_NS}}}import", namespace=namespace, schemaLocation=location)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_PackagedSchemas(version))
    document = etree.fromstring(etree.tostring(wrapper), parser, base_url="sfns-netsuite:/wrapper.xsd")
    return etree.XMLSchema(etree.ElementTree(document))


@cache
def status_codes(version: str) -> frozenset[str]:
    """The ``StatusDetailCodeType`` values the sandbox may put in a status detail."""
    root = etree.fromstring(documents(version)["platform.faultTypes.xsd"], _PARSER)
    values = root.iterfind(f"{{{XSD_NS}}}simpleType[@name='StatusDetailCodeType']//{{{XSD_NS}}}enumeration")
    return frozenset(value.get("value") for value in values)
