"""The aiohttp application devhost serves: user HTTP triggers and the Durable management API.

One catch-all aiohttp route hands every request to `_HttpHost.dispatch`, which routes with ASP.NET's rules
(case-insensitive, constraints, precedence) instead of aiohttp's, because that is what the app's route
templates are written for.

Paths, and what they need when keys are enforced (with no `KeySet` everything is open, as under `func start`):
- `/runtime/webhooks/durabletask/...`: the public Durable webhooks; the system or master key.
- `/durabletask/...`: the RPC base the SDK's client uses; the RPC secret that only the app's own functions get
  (inside `rpcBaseUrl`, see `devhost.http.keys`), or the system or master key.
- `/admin/host/status` (readiness, as the Functions host offers it) and `/admin/devhost/...` (health, the
  manual clock): the master key.
- `/{routePrefix}/...`: the app's HTTP triggers, at their `authLevel`.

Every error answer has the documented JSON shape, including the ones aiohttp would otherwise write as text
(a body over the limit, a URL over 8 KiB).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devhost.client_binding import client_payload, rpc_base_url, webhook_base_url, with_secret
from devhost.clock import Clock, SystemClock
from devhost.config import HostConfig
from devhost.errors import RouteTemplateError
from devhost.http.admin import AdminApi
from devhost.http.keys import KeySet, presented_key
from devhost.http.management_api import ManagementApi
from devhost.http.query import checked_text
from devhost.http.responses import HttpProblem, error_response, http_error_fields, json_response
from devhost.http.routes import Router, RouteTemplate, split_path
from devhost.invoke import invoke_http
from devhost.loader import FunctionIndex, IndexedFunction
from devhost.management import Management
from devhost.worker_calls import FunctionFailed

log = logging.getLogger("devhost.http")

WEBHOOK_SEGMENTS = ("runtime", "webhooks", "durabletask")
RPC_SEGMENTS = ("durabletask",)
ADMIN_SEGMENTS = ("admin",)
STATUS_SEGMENTS = ("admin", "host", "status")
DEVHOST_ADMIN_SEGMENTS = ("admin", "devhost")
# The Functions host accepts request bodies up to 100 MB; aiohttp's default is 1 MB.
MAX_BODY_BYTES = 100 * 1024 * 1024
# Kestrel's request line limit, which the Functions host keeps: longer URLs answer 414.
MAX_URL_BYTES = 8 * 1024
# The request line limit to give aiohttp's HTTP parser (`web.AppRunner(app, max_line_size=...)`). The parser
# answers a request line over its limit itself, in plain text; a limit well above MAX_URL_BYTES lets the app
# answer the usual long URLs with a JSON 414. Beyond it (and for bytes that are not HTTP at all) the parser's
# own plain-text 400 remains.
MAX_REQUEST_LINE = 64 * 1024


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
        clock: Clock,
    ) -> None:
        self._config = config
        self._keys = keys
        self._rpc_base_url = rpc_base_url
        self._executor = executor
        self._prefix = tuple(s.lower() for s in split_path(config.route_prefix))
        self._user_routes: Router[HttpRoute] = Router()
        for route in http_routes(index):
            self._user_routes.add(route.methods, route.template, route)
        self._management = ManagementApi(management, hub_name=config.hub_name)
        self._admin = AdminApi(clock)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except web.HTTPException as exc:
            # aiohttp's own answers (a body over the size limit, ...), in the documented shape.
            if exc.status == 413:
                message = f"the request body is larger than the limit of {request.client_max_size:,} bytes"
                return error_response(413, "bodyTooLarge", message)
            return error_response(exc.status, "badRequest" if exc.status < 500 else "internalError", exc.reason)
        except HttpProblem as exc:
            return error_response(exc.status, exc.code, str(exc))
        except Exception as exc:
            # The host keeps serving whatever a handler or a function raises.
            log.exception("%s %s failed", request.method, request.path)
            message = exc.message if isinstance(exc, FunctionFailed) else f"{type(exc).__name__}: {exc}"
            return error_response(500, "internalError", message, extra=http_error_fields(message, exc))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if len(request.raw_path) > MAX_URL_BYTES:
            return error_response(414, "urlTooLong", f"the URL is longer than {MAX_URL_BYTES:,} bytes")
        # The Host header ends up in the URLs and Location headers of answers, which must encode.
        checked_text(request.host, "the Host header")
        segments = split_path(request.rel_url.raw_path)
        if _starts_with(segments, WEBHOOK_SEGMENTS):
            if not self._allowed(request, "system"):
                return _unauthorized("the Durable webhooks need the system key (code= or x-functions-key)")
            return await self._management.handle(
                request, segments[len(WEBHOOK_SEGMENTS) :], url_key=self._url_key(request)
            )
        if _starts_with(segments, RPC_SEGMENTS):
            if not self._allowed(request, "rpc", basic_auth=True):
                return _unauthorized("the RPC base takes the durable client binding's rpcBaseUrl or the system key")
            return await self._management.handle(request, segments[len(RPC_SEGMENTS) :], url_key=self._url_key(request))
        if _starts_with(segments, ADMIN_SEGMENTS):
            return await self._admin_route(request, segments)
        if _starts_with(segments, self._prefix):
            return await self._user_function(request, segments[len(self._prefix) :])
        return error_response(404, "notFound", "no function or endpoint matches this path")

    async def _admin_route(self, request: web.Request, segments: list[str]) -> web.StreamResponse:
        is_status = _starts_with(segments, STATUS_SEGMENTS) and len(segments) == len(STATUS_SEGMENTS)
        is_devhost = _starts_with(segments, DEVHOST_ADMIN_SEGMENTS)
        if not (is_status or is_devhost):
            return error_response(404, "notFound", "no admin endpoint at this path")
        if not self._allowed(request, "admin"):
            return _unauthorized("the admin endpoints need the master key (code= or x-functions-key)")
        if is_devhost:
            return await self._admin.handle(request, segments[len(DEVHOST_ADMIN_SEGMENTS) :])
        return json_response({"state": "Running", "hubName": self._config.hub_name})

    def _allowed(self, request: web.Request, auth_level: str, *, basic_auth: bool = False) -> bool:
        return self._keys is None or self._keys.allows(auth_level, presented_key(request, basic_auth=basic_auth))

    def _url_key(self, request: web.Request) -> str | None:
        """The system key, for the URLs of an answer, when keys are enforced and the caller presented the system
        or master key; without keys, no URL needs one. Never for a caller with less (a function key, the RPC
        secret, nothing): no answer hands out a key its caller did not have."""
        if self._keys is None or not self._keys.allows("system", presented_key(request)):
            return None
        return self._keys.system_key

    def _rpc_base(self, request: web.Request) -> str:
        secret = self._keys.rpc_secret if self._keys else None
        if self._rpc_base_url:
            return with_secret(self._rpc_base_url, secret)
        # The socket this request came in on is certainly reachable from this machine, whatever name the
        # client used; useful when the server was started on port 0.
        sockname: Any = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            host = str(sockname[0])
            host = f"[{host}]" if ":" in host else host
            return rpc_base_url(f"http://{host}:{sockname[1]}", secret)
        return rpc_base_url(f"{request.scheme}://{request.host}", secret)

    async def _user_function(self, request: web.Request, segments: list[str]) -> web.StreamResponse:
        resolved = self._user_routes.resolve(request.method, segments)
        if resolved is None:
            return error_response(404, "notFound", "no function matches this path")
        route = resolved.target
        if route is None:
            allow = ", ".join(sorted(resolved.allowed))
            message = f"{request.method} is not allowed here; use {allow}"
            return error_response(405, "methodNotAllowed", message, headers={"Allow": allow})
        if not self._allowed(request, route.auth_level):
            needs = "the master key" if route.auth_level == "admin" else "a function key"
            return _unauthorized(f"function '{route.function.name}' needs {needs} (code= or x-functions-key)")
        base_url = webhook_base_url(f"{request.scheme}://{request.host}")
        rpc_base = self._rpc_base(request)
        system_key = self._url_key(request)

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


def _unauthorized(message: str) -> web.Response:
    return error_response(401, "unauthorized", message)


def build_http_app(
    index: FunctionIndex,
    config: HostConfig,
    management: Management,
    *,
    rpc_base_url: str | None = None,
    keys: KeySet | None = None,
    executor: Executor | None = None,
    clock: Clock | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> web.Application:
    """The aiohttp application for an indexed app. Serve it with `max_line_size=MAX_REQUEST_LINE`.

    `rpc_base_url` is what client functions get as the SDK's `rpcBaseUrl` (with the RPC secret added when
    keys are enforced); None means "this server, at the local address the request arrived on". `keys` None
    enforces no keys (as `func start`). Sync functions run in `executor` (None: the loop's default thread
    pool). `clock` is what `/admin/devhost/clock` reads and moves (a ManualClock moves). Raises
    RouteTemplateError for a bad route.
    """
    host = _HttpHost(
        index,
        config,
        management,
        rpc_base_url=rpc_base_url,
        keys=keys,
        executor=executor,
        clock=clock or SystemClock(),
    )
    app = web.Application(client_max_size=max_body_bytes)
    # [\s\S], not `.`: a decoded path may hold a newline (`%0A`), and then no route would match it.
    app.router.add_route("*", r"/{tail:[\s\S]*}", host.dispatch)
    return app
