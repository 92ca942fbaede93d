"""What an identity-based connection needs locally: an Azurite over HTTPS that checks OAuth tokens, a
certificate for it, and a managed-identity token endpoint that `azure-identity` asks for tokens.

The endpoint speaks the App Service managed-identity protocol (``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``
in the environment), so the app's real `ManagedIdentityCredential` and `DefaultAzureCredential` fetch tokens
from it exactly as they do in Azure. Azurite's "basic" OAuth check reads a token's lifetime (``nbf``,
``iat``, ``exp``), its issuer (an Entra ID ``https://sts.windows.net/`` prefix) and its audience (the storage
resource); it does not check the signature, so the tokens here are signed with a throwaway key.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devhost.azurite import TlsFiles

GOOD_ISSUER = "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"


def make_certificate(folder: Path) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day, as PEM files in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TlsFiles(cert=cert_path, key=key_path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(audience: str, *, issuer: str = GOOD_ISSUER, lifetime: float = 3600.0, now: float | None = None) -> str:
    """A JWT with the claims Azurite checks; a negative `lifetime` makes one that has already expired."""
    issued = int(time.time() if now is None else now)
    claims = {
        "aud": audience,
        "iss": issuer,
        "iat": issued - 600,
        "nbf": issued - 600,
        "exp": int(issued + lifetime),
        "oid": "11111111-1111-1111-1111-111111111111",
        "tid": GOOD_ISSUER.rstrip("/").rsplit("/", 1)[1],
    }
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secrets.token_bytes(32), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


@dataclass
class TokenEndpoint:
    """A local App Service managed-identity endpoint. `issuer` and `lifetime` shape the tokens it hands out
    (change them to hand out tokens Azurite must refuse); `requests` records each request's query."""

    issuer: str = GOOD_ISSUER
    lifetime: float = 3600.0
    header_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    requests: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/msi/token"

    @property
    def environ(self) -> dict[str, str]:
        """The settings that make `azure-identity` use this endpoint as the managed identity."""
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.header_secret}

    def start(self) -> TokenEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                if self.headers.get("X-IDENTITY-HEADER") != endpoint.header_secret or "resource" not in query:
                    self._reply(400, {"error": "invalid_request"})
                    return
                endpoint.requests.append(query)
                token = make_token(query["resource"], issuer=endpoint.issuer, lifetime=endpoint.lifetime)
                expires_on = int(time.time() + endpoint.lifetime)
                self._reply(
                    200,
                    {
                        "access_token": token,
                        "expires_on": str(expires_on),
                        "resource": query["resource"],
                        "token_type": "Bearer",
                        "client_id": query.get("client_id", "system-assigned"),
                    },
                )

            def _reply(self, status: int, body: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="token-endpoint", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
