"""The dashboard's route: `GET /api/dashboard` is the page, `GET /api/dashboard/{file}` its scripts and styles.

Same auth level as the API's routes. The page reads the job API from the browser with the key it was opened
with (`?code=`), sent as `x-functions-key`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import FileNotFound
from durable_batch.dashboard.assets import INDEX, Asset, Assets, load

ROUTE = "dashboard"
SECURITY_HEADERS = {
    # Scripts and styles only from the app: data from the API is text, and is never run even if it is markup.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # The page's URL may carry a key: never hand it to another site.
    "Referrer-Policy": "no-referrer",
}
_IMMUTABLE = "private, max-age=31536000, immutable"


def register(bp: df.Blueprint, assets: Assets | None = None) -> None:
    """Register the dashboard's route on `bp`, serving `assets` (the package's `static/` by default)."""
    app = http.registrar(bp)
    files = assets if assets is not None else load()

    @app.route(route=f"{ROUTE}/{{*path}}", methods=["GET"])
    async def dashboard(req: func.HttpRequest) -> func.HttpResponse:
        return await serve(req, files)


async def serve(req: func.HttpRequest, files: Assets) -> func.HttpResponse:
    """The answer to a request for the page or one of its files; a name that is none of them is a 404."""
    return await http.guarded(lambda: _serve(req, files))


async def _serve(req: func.HttpRequest, files: Assets) -> func.HttpResponse:
    name = str(req.route_params.get("path") or "")
    if name in ("", INDEX):
        return _page(req, files)
    asset = files.get(name)
    if asset is None:
        raise FileNotFound(f"the dashboard has no file {name!r}: open the dashboard at /api/{ROUTE}")
    return _file(req, asset)


def _page(req: func.HttpRequest, files: Assets) -> func.HttpResponse:
    path = urlsplit(req.url).path.rstrip("/")
    if path.endswith(f"/{INDEX}"):
        path = path[: -len(INDEX) - 1]
    api_root = path.rsplit("/", 1)[0]
    body = files.page(path, api_root, req.params.get("code") or None)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return func.HttpResponse(body=body, status_code=200, headers=headers, mimetype="text/html", charset="utf-8")


def _file(req: func.HttpRequest, asset: Asset) -> func.HttpResponse:
    etag = f'"{asset.version}"'
    versioned = req.params.get("v") == asset.version
    headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": _IMMUTABLE if versioned else "no-cache"}
    if etag in {tag.strip() for tag in (req.headers.get("if-none-match") or "").split(",")}:
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(
        body=asset.body, status_code=200, headers=headers, mimetype=asset.mimetype, charset="utf-8"
    )
