"""A local certificate authority for the sandboxes, kept in the data dir so restarts keep trust.

simple-salesforce always builds ``https://`` URLs, so the sandboxes speak TLS like the real systems
and clients trust ``ca.pem`` through a setting: verification is never switched off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class SandboxTLS:
    """Paths of the CA certificate and the server's key + certificate chain."""

    ca_cert: Path
    server_key_and_chain: Path
    server_cert_chain: Path
    server_key: Path

    @classmethod
    def load_or_create(cls, directory: Path, extra_names: tuple[str, ...] = ()) -> SandboxTLS:
        """Reuse the CA in ``directory`` or make a new one, and issue the server certificate."""
        directory.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key = directory / "ca.pem", directory / "ca.key"
        if ca_cert.exists() and ca_key.exists():
            ca = trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
        else:
            ca = trustme.CA(organization_name="sfns sandbox")
            ca_key.write_bytes(ca.private_key_pem.bytes())
            ca_key.chmod(0o600)
            ca.cert_pem.write_to_path(str(ca_cert))
        leaf = ca.issue_cert(*SERVER_NAMES, *extra_names)
        tls = cls(
            ca_cert=ca_cert,
            server_key_and_chain=directory / "server.pem",
            server_cert_chain=directory / "server-chain.pem",
            server_key=directory / "server.key",
        )
        leaf.private_key_and_cert_chain_pem.write_to_path(str(tls.server_key_and_chain))
        tls.server_cert_chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        tls.server_key.write_bytes(leaf.private_key_pem.bytes())
        tls.server_key.chmod(0o600)
        return tls

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for the HTTPS servers."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.server_key_and_chain))
        return context

    def grpc_server_credentials(self):
        """Credentials for a grpc server (import grpc lazily: only the Pub/Sub emulator needs it)."""
        import grpc

        return grpc.ssl_server_credentials([(self.server_key.read_bytes(), self.server_cert_chain.read_bytes())])
