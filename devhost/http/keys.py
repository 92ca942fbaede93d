"""Function keys, as the Functions host checks them for `authLevel` function and admin, and the RPC secret.

Locally, `func start` enforces no keys; devhost enforces them only when given a `KeySet`, so a test or a
shared machine can check that clients send the keys they will need in Azure.

The real host's RPC endpoint (`rpcBaseUrl`) is a listener of its own that only the worker on the same machine
can reach. devhost serves it on its one port, so with keys enforced the RPC base takes a secret instead: a
random one per process, handed only to the app's own functions inside `rpcBaseUrl` as URL user info
(`http://devhost:SECRET@127.0.0.1:PORT/durabletask/`). The SDK appends paths to `rpcBaseUrl` and cannot add a
query string or a header, but aiohttp (and every other HTTP client) turns URL user info into an
`Authorization: Basic` header, so the app's unchanged client sends the secret with every request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass, field

from aiohttp import web

KEY_HEADER = "x-functions-key"


@dataclass(frozen=True)
class KeySet:
    """The host's keys. The master key opens everything; the system key opens the Durable webhooks and the RPC
    base (it is the `code=` of the management URLs, like Azure's `durabletask_extension` key); the RPC secret
    opens the RPC base only and is never printed."""

    function_key: str
    master_key: str
    system_key: str
    rpc_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @classmethod
    def generate(cls) -> KeySet:
        """Fresh random keys."""
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32))

    def allows(self, auth_level: str, presented: str | None) -> bool:
        """Whether a request presenting `presented` may call something at `auth_level`
        (anonymous, function, admin, system or rpc; anything else counts as function)."""
        level = auth_level.lower()
        if level == "anonymous":
            return True
        if not presented:
            return False
        accepted = {
            "admin": [self.master_key],
            "system": [self.system_key, self.master_key],
            "rpc": [self.rpc_secret, self.system_key, self.master_key],
        }.get(level, [self.function_key, self.master_key])
        # compare_digest on every candidate, so timing does not tell which key nearly matched. Header values
        # may hold surrogate escapes (bytes that are not UTF-8): surrogatepass encodes them instead of failing.
        given = presented.encode("utf-8", "surrogatepass")
        return any([hmac.compare_digest(given, key.encode()) for key in accepted])


def presented_key(request: web.Request, *, basic_auth: bool = False) -> str | None:
    """The key a request carries: the `code` query parameter, else the `x-functions-key` header, else (with
    `basic_auth`, for the RPC base) the password of an `Authorization: Basic` header."""
    key = request.query.get("code") or request.headers.get(KEY_HEADER)
    if key or not basic_auth:
        return key or None
    return _basic_password(request.headers.get("Authorization", ""))


def _basic_password(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None
