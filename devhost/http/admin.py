"""devhost's own endpoints under `/admin/devhost/`: a health check, and reading and moving a manual clock.

They sit beside the Functions host's `/admin/host/status` and need what it needs: the master key when keys are
enforced (moving the clock fires every timer of every instance).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from devhost.clock import Clock, ManualClock
from devhost.http.query import Query
from devhost.http.responses import HttpProblem, error_response, json_response

# A hundred years: more than any test of timers or retries needs, and far from datetime's year 9999.
MAX_ADVANCE_SECONDS = 100 * 366 * 86_400.0


class AdminApi:
    """The `/admin/devhost/` routes over the host's clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def handle(self, request: web.Request, segments: list[str]) -> web.Response:
        """Answer a request whose path, after `/admin/devhost/`, is `segments`."""
        action = "/".join(s.lower() for s in segments)
        routes = {("health", "GET"), ("clock", "GET"), ("clock/advance", "POST")}
        allowed = sorted(method for path, method in routes if path == action)
        if not allowed:
            return error_response(404, "notFound", "no devhost endpoint at this path (health, clock, clock/advance)")
        if request.method not in allowed:
            allow = ", ".join(allowed)
            message = f"{request.method} is not allowed here; use {allow}"
            return error_response(405, "methodNotAllowed", message, headers={"Allow": allow})
        try:
            if action == "health":
                return json_response({"status": "ok"})
            if action == "clock":
                return json_response({"now": self._clock.now().isoformat()})
            return self._advance(request)
        except HttpProblem as exc:
            return error_response(exc.status, exc.code, str(exc))

    def _advance(self, request: web.Request) -> web.Response:
        if not isinstance(self._clock, ManualClock):
            raise HttpProblem(
                409, "the host runs on the system clock; start it with --manual-clock", code="systemClock"
            )
        seconds = Query(request.query).seconds("seconds", maximum=MAX_ADVANCE_SECONDS)
        if seconds is None:
            raise HttpProblem(400, "query parameter 'seconds' is required", code="invalidQuery")
        try:
            now = self._clock.advance(timedelta(seconds=seconds))
        except OverflowError:
            raise HttpProblem(400, "the clock cannot move past the year 9999", code="invalidQuery") from None
        return json_response({"now": now.isoformat()})
