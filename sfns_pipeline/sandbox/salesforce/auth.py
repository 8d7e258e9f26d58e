"""OAuth 2.0 for the sandbox org: connected apps, the three server-to-server flows, sessions, API usage.

Credentials are generated on first start and kept in the org's database, so a restart keeps working
logins; the JWT bearer flow's private key is written to the data dir (the connected app holds only the
certificate, as in Salesforce). Sessions expire after a configurable lifetime measured on the sandbox clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sfns_pipeline.sandbox.salesforce.backend import Actor, SalesforceBackend
from sfns_pipeline.sandbox.salesforce.errors import InvalidSession, OAuthError, RequestLimitExceeded

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PUBLIC_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class ConnectedApp:
    """A connected app: consumer key/secret, the user client credentials run as, the JWT certificate."""

    key: str
    client_id: str
    client_secret: str
    run_as: str


@dataclass(frozen=True)
class Session:
    """An authenticated access token: who it acts as and which connected app issued it."""

    token: str
    actor: Actor
    app: str


class OrgAuth:
    """Issues and checks access tokens for one org."""

    def __init__(self, backend: SalesforceBackend, key_dir: Path, *, token_lifetime: timedelta) -> None:
        self.backend = backend
        self.token_lifetime = token_lifetime
        self.instance_url = ""  # set once the HTTPS server knows its port
        self.apps = {
            spec["key"]: ConnectedApp(
                key=spec["key"],
                client_id=backend.meta_value(f"app:{spec['key']}:client_id", lambda: "3MVG9" + secrets.token_hex(40)),
                client_secret=backend.meta_value(f"app:{spec['key']}:client_secret", lambda: secrets.token_hex(32)),
                run_as=spec["run_as"],
            )
            for spec in backend.org.connected_apps
        }
        self.passwords = {
            key: backend.meta_value(f"user:{key}:password", lambda: secrets.token_urlsafe(18)) for key in backend.actors
        }
        self.private_key_file = key_dir / "jwt_private_key.pem"
        self.certificate = self._certificate(key_dir)

    # -- credentials --------------------------------------------------------------------------------
    def _certificate(self, key_dir: Path) -> x509.Certificate:
        pem = self.backend.meta_value("jwt:certificate", lambda: self._new_key_pair(key_dir))
        if not self.private_key_file.exists():  # the data dir lost the key: issue a new pair
            pem = self._new_key_pair(key_dir)
            self.backend.store.put_meta({"jwt:certificate": pem})
        return x509.load_pem_x509_certificate(pem.encode())

    def _new_key_pair(self, key_dir: Path) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_dir.mkdir(parents=True, exist_ok=True)
        encoding, key_format = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        self.private_key_file.write_bytes(key.private_bytes(encoding, key_format, serialization.NoEncryption()))
        self.private_key_file.chmod(0o600)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfns-pipeline JWT bearer")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def audiences(self) -> list[str]:
        """JWT ``aud`` values the org accepts: the public login hosts and its own My Domain URL."""
        return [*PUBLIC_AUDIENCES, self.instance_url]

    def _app_by_client_id(self, client_id: str | None) -> ConnectedApp:
        app = next((a for a in self.apps.values() if client_id and hmac.compare_digest(a.client_id, client_id)), None)
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        return app

    def _user(self, username: str | None) -> tuple[str, Actor] | None:
        return next(((k, a) for k, a in self.backend.actors.items() if username and a.username == username), None)

    # -- grants -------------------------------------------------------------------------------------
    def grant(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Handle a token request (form fields and optional HTTP Basic client credentials)."""
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
            app = self._app_by_client_id(client_id)
            if not hmac.compare_digest(app.client_secret, client_secret or ""):
                raise OAuthError("invalid_client", "invalid client credentials")
            return self._issue(app, self.backend.actors[app.run_as], scope="api")
        if grant_type == "password":
            app = self._app_by_client_id(form.get("client_id"))
            if not hmac.compare_digest(app.client_secret, form.get("client_secret") or ""):
                raise OAuthError("invalid_client", "invalid client credentials")
            found = self._user(form.get("username"))
            if found is None or not hmac.compare_digest(self.passwords[found[0]], form.get("password") or ""):
                raise OAuthError("invalid_grant", "authentication failure")
            return self._issue(app, found[1])
        if grant_type == JWT_GRANT:
            return self._jwt_bearer(form.get("assertion") or "")
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(self, assertion: str) -> dict[str, Any]:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        app = self._app_by_client_id(unverified.get("iss"))
        try:
            claims = jwt.decode(
                assertion,
                self.certificate.public_key(),
                algorithms=["RS256"],
                audience=self.audiences,
                # exp is checked below against the *sandbox* clock, so clock-skew tests see what a real org does
                options={"require": ["iss", "sub", "aud", "exp"], "verify_exp": False},
            )
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        try:
            expires = float(claims["exp"])
        except (TypeError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if expires <= self.backend.clock.now().timestamp():
            raise OAuthError("invalid_grant", "expired authorization code")
        found = self._user(claims.get("sub"))
        if found is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return self._issue(app, found[1], scope="api", signed=False)

    def _issue(self, app: ConnectedApp, actor: Actor, scope: str | None = None, signed: bool = True) -> dict[str, Any]:
        now = self.backend.clock.now()
        token = f"{self.backend.org_id[:15]}!{secrets.token_urlsafe(72)}"
        self.backend.store.add_session(token, actor.user_id, app.key, now + self.token_lifetime)
        identity = f"{self.instance_url}/id/{self.backend.org_id}/{actor.user_id}"
        issued_at = str(int(now.timestamp() * 1000))
        response: dict[str, Any] = {"access_token": token, "instance_url": self.instance_url, "id": identity}
        response |= {"token_type": "Bearer", "issued_at": issued_at}
        if signed:
            digest = hmac.new(app.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
            response["signature"] = base64.b64encode(digest).decode()
        if scope:
            response["scope"] = scope
        return response

    # -- sessions -----------------------------------------------------------------------------------
    def session(self, token: str | None) -> Session:
        """The live session for ``token``; INVALID_SESSION_ID when unknown or expired."""
        stored = self.backend.store.session(token) if token else None
        if stored is None:
            raise InvalidSession()
        user_id, app, expires_at = stored
        actor = self.backend.actor(user_id)
        if actor is None or self.backend.clock.now().timestamp() >= expires_at:
            raise InvalidSession()
        return Session(token, actor, app)

    def authenticate(self, access_token: str, instance_url: str, tenant_id: str) -> bool:
        """The Pub/Sub API's check of its ``accesstoken`` / ``instanceurl`` / ``tenantid`` metadata."""
        try:
            self.session(access_token)
        except InvalidSession:
            return False
        same_instance = (instance_url or "").rstrip("/").lower() == self.instance_url.rstrip("/").lower()
        return same_instance and tenant_id in (self.backend.org_id, self.backend.org_id[:15])

    def userinfo(self, session: Session) -> dict[str, Any]:
        """``/services/oauth2/userinfo`` for a session."""
        user = self.backend.record(session.actor.user_id)
        org_id, user_id = self.backend.org_id, session.actor.user_id
        return {
            "sub": f"{self.instance_url}/id/{org_id}/{user_id}",
            "user_id": user_id,
            "organization_id": org_id,
            "preferred_username": user["Username"],
            "name": f"{user.get('FirstName') or ''} {user['LastName']}".strip(),
            "email": user["Email"],
            "zoneinfo": "GMT",
            "active": True,
            "user_type": "STANDARD",
            "urls": {"rest": f"{self.instance_url}/services/data/v{{version}}/"},
        }


class ApiUsage:
    """The org's daily API request allowance, counted per UTC day of the sandbox clock."""

    def __init__(self, backend: SalesforceBackend, daily_limit: int) -> None:
        self.backend = backend
        self.daily_limit = daily_limit

    def _today(self) -> str:
        return self.backend.clock.now().date().isoformat()

    def charge(self) -> None:
        """Count one API request; REQUEST_LIMIT_EXCEEDED once the allowance is spent."""
        with self.backend.lock:
            day = self._today()
            used = self.backend.store.usage(day)
            if used >= self.daily_limit:
                raise RequestLimitExceeded()
            self.backend.store.set_usage(day, used + 1)

    @property
    def used(self) -> int:
        """API requests counted today (by the sandbox clock)."""
        return self.backend.store.usage(self._today())

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value."""
        return f"api-usage={self.used}/{self.daily_limit}"
