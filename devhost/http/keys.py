"""Function keys, as the Functions host checks them for `authLevel` function and admin.

Locally, `func start` enforces no keys; devhost enforces them only when given a `KeySet`, so a test or a
shared machine can check that clients send the keys they will need in Azure.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web

KEY_HEADER = "x-functions-key"


@dataclass(frozen=True)
class KeySet:
    """The host's keys. The master key opens everything; the system key opens the Durable webhooks (it is
    the `code=` of the management URLs, like Azure's `durabletask_extension` key)."""

    function_key: str
    master_key: str
    system_key: str

    @classmethod
    def generate(cls) -> KeySet:
        """Fresh random keys."""
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32))

    def allows(self, auth_level: str, presented: str | None) -> bool:
        """Whether a request presenting `presented` may call something at `auth_level`
        (anonymous, function, admin or system)."""
        level = auth_level.lower()
        if level == "anonymous":
            return True
        if not presented:
            return False
        accepted = {"admin": [self.master_key], "system": [self.system_key, self.master_key]}.get(
            level, [self.function_key, self.master_key]
        )
        # compare_digest on every candidate, so timing does not tell which key nearly matched.
        return any([hmac.compare_digest(presented.encode(), key.encode()) for key in accepted])


def presented_key(request: web.Request) -> str | None:
    """The key a request carries: the `code` query parameter, else the `x-functions-key` header."""
    return request.query.get("code") or request.headers.get(KEY_HEADER)
