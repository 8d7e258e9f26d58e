"""HTTPS plumbing shared by the sandbox's HTTP services: a threaded TLS server, a routing table,
fault injection and the ``/__sandbox__`` admin API.

A service subclasses :class:`HttpService`, declares ``routes`` (werkzeug ``Rule``s whose endpoint is
a method name) and ``render_fault`` (how its platform says "503" or "row locked"). Handlers take
``(request, **url_args)`` and return a werkzeug ``Response``; exceptions that know their wire shape
(subclasses of :class:`WireError`) are rendered by the service.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any, ClassVar

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.http import http_date
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sfns_pipeline.sandbox.clock import SandboxClock
from sfns_pipeline.sandbox.faults import FaultInjector, FaultRule
from sfns_pipeline.sandbox.tls import SandboxTLS

log = logging.getLogger(__name__)


class WireError(Exception):
    """An error that knows its HTTP status and body in the emulated platform's shape."""

    status: int = 400

    def to_response(self) -> Response:  # pragma: no cover - subclasses implement
        """Render the error in the platform's wire shape."""
        raise NotImplementedError


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response, the way both platforms' REST APIs send them."""
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class _SandboxRequestHandler(WSGIRequestHandler):
    """Leaves the ``Date`` header to the app, which sets it from the (skewable) sandbox clock."""

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())


ADMIN_ROUTES = [
    Rule("/__sandbox__/faults", methods=["GET"], endpoint="_admin_list_faults"),
    Rule("/__sandbox__/faults", methods=["POST"], endpoint="_admin_add_fault"),
    Rule("/__sandbox__/faults", methods=["DELETE"], endpoint="_admin_clear_faults"),
    Rule("/__sandbox__/clock", methods=["GET", "POST"], endpoint="_admin_clock"),
]


class HttpService:
    """Base of a sandbox HTTPS service (WSGI app + server thread)."""

    name: ClassVar[str]
    routes: ClassVar[list[Rule]]

    def __init__(self, *, clock: SandboxClock, faults: FaultInjector) -> None:
        self.clock = clock
        self.faults = faults
        rules = [rule.empty() for rule in (*ADMIN_ROUTES, *self.routes)]  # a Rule binds to one Map only
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- overridables -------------------------------------------------------------------------------
    def render_fault(self, kind: str, request: Request) -> Response:
        """Render an injected fault in the platform's wire shape."""
        return Response(f"injected fault {kind}", status=int(kind) if kind.isdigit() else 500)

    def render_not_found(self, request: Request) -> Response:
        """What the platform answers for an unknown URL."""
        return json_response([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)

    def render_method_not_allowed(self, request: Request, allowed: list[str]) -> Response:
        """What the platform answers for a known URL with the wrong HTTP method (405)."""
        message = f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(sorted(allowed))}"
        return json_response(
            [{"errorCode": "METHOD_NOT_ALLOWED", "message": message}], 405, {"Allow": ", ".join(allowed)}
        )

    # -- WSGI ---------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        """The WSGI entry point: dispatch, render ``WireError`` subclasses, stamp ``Date`` from the sandbox clock."""
        request = Request(environ)
        try:
            response = self._dispatch(request, environ)
        except WireError as exc:
            response = exc.to_response()
        except Exception:
            log.exception("%s sandbox: unhandled error on %s %s", self.name, request.method, request.path)
            response = json_response([{"errorCode": "UNKNOWN_EXCEPTION", "message": "sandbox internal error"}], 500)
        # The sandbox clock, not the host's: clients read server time from this header (clock-skew tests).
        response.headers["Date"] = http_date(self.clock.now())
        return response(environ, start_response)

    def _dispatch(self, request: Request, environ) -> Response:
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed as exc:
            return self.render_method_not_allowed(request, exc.valid_methods or [])
        except NotFound:
            return self.render_not_found(request)
        if not endpoint.startswith("_admin_"):
            fault = self.faults.match(self.name, request.path, request.method)
            if fault is not None:
                injected = self._apply_fault(fault, request, environ)
                if injected is not None:
                    return injected
        return getattr(self, endpoint)(request, **args)

    def _apply_fault(self, fault: FaultRule, request: Request, environ) -> Response | None:
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        if fault.kind == "latency":
            return None
        if fault.kind == "drop":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            return Response(status=500)
        return self.render_fault(fault.kind, request)

    # -- admin API ----------------------------------------------------------------------------------
    def _admin_list_faults(self, request: Request) -> Response:
        return json_response(self.faults.rules())

    def _admin_add_fault(self, request: Request) -> Response:
        try:
            rule = self.faults.add(request.get_json(force=True))
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(rule.model_dump(), 201)

    def _admin_clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return Response(status=204)

    def _admin_clock(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.clock.set_offset(float(request.get_json(force=True)["offset_seconds"]))
            except (KeyError, TypeError, ValueError):
                return json_response({"error": 'expected {"offset_seconds": <number>}'}, 400)
        return json_response({"now": self.clock.now().isoformat(), "offset_seconds": self.clock.offset_seconds})

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, host: str, port: int, tls: SandboxTLS) -> str:
        """Serve HTTPS on ``host:port`` (0 = any free port) in a daemon thread; returns the base URL."""
        self._server = make_server(
            host, port, self, threaded=True, ssl_context=tls.server_context(), request_handler=_SandboxRequestHandler
        )
        self._server.daemon_threads = True
        bound_port = self._server.server_port
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "localhost") else host  # noqa: S104
        self.base_url = f"https://{shown_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{self.name}-https", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
