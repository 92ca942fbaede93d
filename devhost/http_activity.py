"""`context.call_http`: the built-in HTTP activity, one request per action as the extension makes it.

The Python SDK gets no 202/Location polling (reference §2.11), so neither does devhost. The result is the
extension's DurableHttpResponse: status code, headers (each a string, or a list when repeated) and content.
"""

from __future__ import annotations

from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=100)


class HttpActivity:
    """Makes the requests on the host's loop, with one session for the host's lifetime."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
        content = request.get("content")
        async with self._session.request(
            str(request.get("method") or "GET"),
            str(request["uri"]),
            headers=headers,
            data=None if content is None else str(content).encode(),
        ) as response:
            body = await response.text(errors="replace")
            collected: dict[str, Any] = {}
            for key in response.headers:
                values = response.headers.getall(key)
                collected[key] = values[0] if len(values) == 1 else list(values)
            return {"statusCode": response.status, "headers": collected, "content": body}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
