"""The aiohttp application devhost serves: user HTTP triggers and the Durable management API.

One catch-all aiohttp route hands every request to `_HttpHost.dispatch`, which routes with ASP.NET's rules
(case-insensitive, constraints, precedence) instead of aiohttp's, because that is what the app's route
templates are written for.

Paths:
- `/runtime/webhooks/durabletask/...`: the public Durable webhooks (system key when keys are enforced).
- `/durabletask/...`: the RPC base the SDK's client uses. Open to loopback peers, as the extension's local
  RPC endpoint is; other peers need the system or master key when keys are enforced.
- `/admin/host/status`: readiness, as the Functions host offers it.
- `/{routePrefix}/...`: the app's HTTP triggers.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devhost.client_binding import RPC_PATH, client_payload, webhook_base_url
from devhost.config import HostConfig
from devhost.errors import RouteTemplateError
from devhost.http.keys import KeySet, presented_key
from devhost.http.management_api import ManagementApi
from devhost.http.responses import error_response, json_response
from devhost.http.routes import Router, RouteTemplate, split_path
from devhost.invoke import invoke_http
from devhost.loader import FunctionIndex, IndexedFunction
from devhost.management import Management

log = logging.getLogger("devhost.http")

WEBHOOK_SEGMENTS = ("runtime", "webhooks", "durabletask")
RPC_SEGMENTS = ("durabletask",)
STATUS_SEGMENTS = ("admin", "host", "status")
# The Functions host accepts request bodies up to 100 MB; aiohttp's default is 1 MB.
MAX_BODY_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP trigger as routed: the function, its template, and who may call it."""

    function: IndexedFunction
    template: RouteTemplate
    methods: frozenset[str] | None
    auth_level: str


def http_routes(index: FunctionIndex) -> list[HttpRoute]:
    """The routes of the app's HTTP triggers. A bad template raises RouteTemplateError naming the function."""
    routes = []
    for fn in index.http_functions:
        trigger = fn.trigger
        raw_methods = trigger.get("methods")
        methods = frozenset(str(m).upper() for m in raw_methods) if raw_methods else None
        try:
            template = RouteTemplate(str(trigger.get("route") or fn.name))
        except RouteTemplateError as exc:
            raise RouteTemplateError(f"function '{fn.name}': {exc}") from exc
        auth_level = str(trigger.get("authLevel") or "function").lower()
        routes.append(HttpRoute(fn, template, methods, auth_level))
    return routes


def _starts_with(segments: list[str], prefix: tuple[str, ...]) -> bool:
    return len(segments) >= len(prefix) and all(a.lower() == b for a, b in zip(segments, prefix, strict=False))


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


class _HttpHost:
    def __init__(
        self,
        index: FunctionIndex,
        config: HostConfig,
        management: Management,
        *,
        rpc_base_url: str | None,
        keys: KeySet | None,
        executor: Executor | None,
    ) -> None:
        self._config = config
        self._keys = keys
        self._rpc_base_url = rpc_base_url
        self._executor = executor
        self._prefix = tuple(s.lower() for s in split_path(config.route_prefix))
        self._user_routes: Router[HttpRoute] = Router()
        for route in http_routes(index):
            self._user_routes.add(route.methods, route.template, route)
        self._management = ManagementApi(
            management, hub_name=config.hub_name, system_key=keys.system_key if keys else None
        )

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        segments = split_path(request.rel_url.raw_path)
        try:
            if _starts_with(segments, WEBHOOK_SEGMENTS):
                if not self._allowed(request, "system"):
                    return error_response(401, "this webhook needs the system key (code=...)")
                return await self._management.handle(request, segments[len(WEBHOOK_SEGMENTS) :])
            if _starts_with(segments, RPC_SEGMENTS):
                if not _is_loopback(request.remote) and not self._allowed(request, "system"):
                    return error_response(401, "the RPC endpoint takes only loopback callers or the system key")
                return await self._management.handle(request, segments[len(RPC_SEGMENTS) :])
            if _starts_with(segments, STATUS_SEGMENTS) and len(segments) == len(STATUS_SEGMENTS):
                if not self._allowed(request, "admin"):
                    return error_response(401, "this endpoint needs the master key")
                return json_response({"state": "Running", "hubName": self._config.hub_name})
            if _starts_with(segments, self._prefix):
                return await self._user_function(request, segments[len(self._prefix) :])
        except web.HTTPException:
            raise  # aiohttp's own answers (a body over the size limit, ...)
        except Exception as exc:
            # The host keeps serving whatever a handler or a function raises.
            log.exception("%s %s failed", request.method, request.path)
            return error_response(500, "An error has occurred.", exception=exc)
        return error_response(404, f"no function or endpoint matches '{request.path}'")

    def _allowed(self, request: web.Request, auth_level: str) -> bool:
        return self._keys is None or self._keys.allows(auth_level, presented_key(request))

    def _rpc_base(self, request: web.Request) -> str:
        if self._rpc_base_url:
            return self._rpc_base_url
        # The socket this request came in on is certainly reachable from this machine, whatever name the
        # client used; useful when the server was started on port 0.
        sockname: Any = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            host = str(sockname[0])
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{sockname[1]}{RPC_PATH}"
        return f"{request.scheme}://{request.host}{RPC_PATH}"

    async def _user_function(self, request: web.Request, segments: list[str]) -> web.StreamResponse:
        resolved = self._user_routes.resolve(request.method, segments)
        if resolved is None:
            return error_response(404, f"no function matches '{request.path}'")
        route = resolved.target
        if route is None:
            allow = ", ".join(sorted(resolved.allowed))
            return error_response(405, f"{request.method} is not allowed here; use {allow}", headers={"Allow": allow})
        if not self._allowed(request, route.auth_level):
            return error_response(
                401, f"function '{route.function.name}' needs a function key (code= or the x-functions-key header)"
            )
        base_url = webhook_base_url(f"{request.scheme}://{request.host}")
        rpc_base = self._rpc_base(request)
        system_key = self._keys.system_key if self._keys else None

        def payload(binding: Mapping[str, Any]) -> str:
            return client_payload(base_url, rpc_base, self._config.hub_name, binding, system_key=system_key)

        return await invoke_http(
            route.function,
            request,
            resolved.values,
            client_payload=payload,
            executor=self._executor,
            function_directory=str(self._config.script_root),
        )


def build_http_app(
    index: FunctionIndex,
    config: HostConfig,
    management: Management,
    *,
    rpc_base_url: str | None = None,
    keys: KeySet | None = None,
    executor: Executor | None = None,
) -> web.Application:
    """The aiohttp application for an indexed app.

    `rpc_base_url` is what client functions get as the SDK's `rpcBaseUrl`; None means "this server, at the
    local address the request arrived on". `keys` None enforces no keys (as `func start`). Sync functions
    run in `executor` (None: the loop's default thread pool). Raises RouteTemplateError for a bad route.
    """
    host = _HttpHost(index, config, management, rpc_base_url=rpc_base_url, keys=keys, executor=executor)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", host.dispatch)
    return app
