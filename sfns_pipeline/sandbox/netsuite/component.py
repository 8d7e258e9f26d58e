"""``NetSuiteSandbox``: one NetSuite account (REST, SuiteQL, SOAP, TBA + OAuth 2.0) on ``ports["netsuite"]``.

Options (``Sandbox(options={"netsuite": {...}})``):

- ``account_id`` (default ``1234567_SB1``): realm / tokenPassport form; URLs use ``1234567-sb1``;
- ``time_zone`` (default ``America/Los_Angeles``) and ``date_format`` (default ``M/D/YYYY``): how SuiteQL and
  ``q`` filters show and read dates;
- ``concurrency_limit`` (default 5): the account's concurrent-request limit across SOAP and REST;
- ``version`` (default ``2023_2``): the SuiteTalk endpoint version in the SOAP and WSDL paths;
- ``tba``: a fixed ``{consumer_key, consumer_secret, token_id, token_secret}`` instead of generated secrets.

State (records, credentials, the integration's private key) lives in ``<data dir>/netsuite/``, so a
restart keeps records and credentials. See :mod:`.service` for how a request names the account.
"""

from __future__ import annotations

from typing import Any

from sfns_pipeline.sandbox.netsuite.backend import NetSuiteBackend
from sfns_pipeline.sandbox.netsuite.credentials import Credentials, host_form, realm_form
from sfns_pipeline.sandbox.netsuite.governance import Governor
from sfns_pipeline.sandbox.netsuite.service import TOKEN_PATH, NetSuiteService
from sfns_pipeline.sandbox.netsuite.soap.endpoint import SoapEndpoint
from sfns_pipeline.sandbox.netsuite.timefmt import AccountTime
from sfns_pipeline.sandbox.runner import SandboxContext

DEFAULTS: dict[str, Any] = {
    "account_id": "1234567_SB1",
    "time_zone": "America/Los_Angeles",
    "date_format": "M/D/YYYY",
    "concurrency_limit": 5,
    "version": "2023_2",
    "tba": None,
}


class NetSuiteSandbox:
    """The NetSuite account component of the sandbox runner."""

    name = "netsuite"

    def __init__(self) -> None:
        self.service: NetSuiteService | None = None
        self.backend: NetSuiteBackend | None = None
        self.credentials: Credentials | None = None
        self.governor: Governor | None = None

    def start(self, context: SandboxContext) -> dict[str, Any]:
        """Open the account's state, start HTTPS, and describe the account for ``endpoints.json``."""
        options = DEFAULTS | (context.options.get("netsuite") or {})
        account_id = realm_form(options["account_id"])
        version = options["version"]
        state_dir = context.data_dir / "netsuite"
        state_dir.mkdir(parents=True, exist_ok=True)
        account_time = AccountTime(time_zone=options["time_zone"], date_format=options["date_format"])
        self.backend = NetSuiteBackend(state_dir / "netsuite.db", clock=context.clock, account_time=account_time)
        self.credentials = Credentials.load_or_create(state_dir, account_id, clock=context.clock, tba=options["tba"])
        self.governor = Governor(int(options["concurrency_limit"]))
        soap = SoapEndpoint(
            backend=self.backend,
            governor=self.governor,
            credentials=self.credentials,
            clock=context.clock,
            version=version,
        )
        self.service = NetSuiteService(
            clock=context.clock,
            faults=context.faults,
            backend=self.backend,
            credentials=self.credentials,
            governor=self.governor,
            version=version,
            soap_layer=soap,
        )
        base = self.service.start(context.host, context.ports.get("netsuite", 0), context.tls)
        account_url = f"{base}/{host_form(account_id)}"
        tba = self.credentials.tba
        return {
            "account_id": account_id,
            "rest_url": account_url,
            "soap_url": f"{account_url}/services/NetSuitePort_{version}",
            "wsdl_url": f"{account_url}/wsdl/v{version}_0/netsuite.wsdl",
            "version": version,
            "auth": "tba",  # what the pipeline uses by default; oauth2 below works too
            "time_zone": account_time.time_zone,
            "date_format": account_time.date_format,
            "concurrency_limit": self.governor.limit,
            "tba": {
                "consumer_key": tba.consumer_key,
                "consumer_secret": tba.consumer_secret,
                "token_id": tba.token_id,
                "token_secret": tba.token_secret,
            },
            "oauth2": {
                "client_id": self.credentials.oauth2.client_id,
                "certificate_id": self.credentials.oauth2.certificate_id,
                "private_key_file": str(self.credentials.private_key_file),
                "token_url": f"{account_url}{TOKEN_PATH}",
            },
        }

    def stop(self) -> None:
        """Stop serving and close the database."""
        if self.service is not None:
            self.service.stop()
            self.service = None
        if self.backend is not None:
            self.backend.engine.dispose()
            self.backend = None
