"""The files routes: blobs in and out of the app's storage through the API, with the API's keys.

| method and route                            | success                                     | errors             |
|---------------------------------------------|---------------------------------------------|--------------------|
| `GET /api/files/{container}?prefix=&top=`   | 200 `{"value": [{"name", "url"}], ...}`     | 400, 403           |
| `PUT /api/files/{container}/{path}`         | 201 `{"container", "name", "size", "url"}`  | 400, 403, 413      |
| `GET /api/files/{container}/{path}`         | 200 the blob's bytes                        | 400, 403, 404, 413 |

Only the containers of `BATCH_FILE_CONTAINERS` are reachable (by default the results container and
`batch-inputs`), never the task hub's own. Names follow the one rule for blob names (`durable_batch.batch.paths`); in
the results container an upload may not write the app's own names (403 `reservedPath`): `_jobs/...` (every job's
records and results), `_schedules/...` (schedules' templates), and a job's entries of the old layout
(`{jobId}/job.json`, `{jobId}/results/...`, `{jobId}/source/...`). Reading them is allowed: that is how a job's
results come out.
The Functions host holds a body whole, so a file is at most `BATCH_MAX_FILE_BYTES` either way.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import ApiError, BodyTooLarge, InvalidQuery, json_response
from durable_batch.app.services import Services
from durable_batch.batch.paths import relative_path_problem, reserved_name_problem
from durable_batch.lib.azure_storage.errors import NotFound

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 5000
OCTET_STREAM = "application/octet-stream"


class InvalidPath(ApiError):
    status = 400
    code = "invalidPath"


class ContainerNotAllowed(ApiError):
    status = 403
    code = "containerNotAllowed"


class ReservedPath(ApiError):
    status = 403
    code = "reservedPath"


class FileNotFound(ApiError):
    status = 404
    code = "fileNotFound"


def files_url(api_root: str, container: str, name: str | None = None, prefix: str | None = None) -> str:
    """Where the API serves a blob (`name`), or lists the blobs under `prefix`."""
    base = f"{api_root}/files/{quote(container, safe='')}"
    if name is not None:
        return f"{base}/{quote(name, safe='/')}"
    return base + (f"?prefix={quote(prefix, safe='')}" if prefix else "")


def _container(req: func.HttpRequest, services: Services) -> str:
    container = str(req.route_params.get("container", ""))
    allowed = services.settings.file_containers
    if container not in allowed:
        raise ContainerNotAllowed(
            f"container {container!r} is not reachable through the API; these are: {', '.join(allowed)} "
            "(the app setting BATCH_FILE_CONTAINERS)"
        )
    return container


def _name(req: func.HttpRequest) -> str:
    name = str(req.route_params.get("path", ""))
    problem = relative_path_problem(name)
    if problem is not None:
        raise InvalidPath(f"path: {problem}", [{"path": "path", "message": problem}])
    return name


def _writable(name: str, container: str, services: Services) -> str:
    """`name`, unless it is one the app keeps for itself in the results container (`ReservedPath`): reading
    may name any blob, a job's results above all, but only the app writes its own."""
    problem = reserved_name_problem(name, None) if container == services.results.container_name else None
    if problem is not None:
        message = f"{name!r} {problem}"
        raise ReservedPath(f"path: {message}", [{"path": "path", "message": message}])
    return name


def register(bp: df.Blueprint, services: Services) -> None:
    app = http.registrar(bp)

    @app.route(route="files/{container}", methods=["GET"])
    async def api_files(req: func.HttpRequest) -> func.HttpResponse:
        return await http.guarded(lambda: list_files(req, services))

    @app.route(route="files/{container}/{*path}", methods=["GET", "PUT"])
    async def api_file(req: func.HttpRequest) -> func.HttpResponse:
        if req.method.upper() == "PUT":
            return await http.guarded(lambda: upload(req, services))
        return await http.guarded(lambda: download(req, services))


async def list_files(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    container = _container(req, services)
    prefix = str(req.params.get("prefix") or "")
    if prefix:
        problem = relative_path_problem(prefix.rstrip("/") or "/")
        if problem is not None:
            raise InvalidQuery(f"prefix: {problem}")
    top = http.top_param(req, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    after = http.token_param(req)
    if after is not None and not after.startswith(prefix):
        raise InvalidQuery("continuationToken: was not issued for this prefix")
    store = services.files(container)

    def names() -> tuple[list[str], bool]:
        found: list[str] = []
        for name in store.list_names(prefix):
            # Names come in order, so the token (the last name of the previous page) marks where to go on.
            if after is not None and name <= after:
                continue
            if len(found) == top:
                return found, True
            found.append(name)
        return found, False

    found, more = await asyncio.to_thread(names)
    root = http.api_root(req.url)
    token = found[-1] if more else None
    link = None
    if token is not None:
        link = http.next_link(req.url, {"prefix": prefix or None, "top": str(top), "continuationToken": token})
    items = [{"name": name, "url": files_url(root, container, name)} for name in found]
    body: dict[str, Any] = {"container": container, "prefix": prefix, "value": items}
    body.update({"continuationToken": token, "nextLink": link})
    return json_response(body)


async def upload(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    container = _container(req, services)
    name = _writable(_name(req), container, services)
    data = req.get_body()
    limit = services.settings.max_file_bytes
    if len(data) > limit:
        raise BodyTooLarge(f"the file is {len(data):,} bytes; the limit is {limit:,} (BATCH_MAX_FILE_BYTES)")
    content_type = req.headers.get("Content-Type") or OCTET_STREAM
    await asyncio.to_thread(services.files(container).put, name, data, content_type)
    url = files_url(http.api_root(req.url), container, name)
    return json_response({"container": container, "name": name, "size": len(data), "url": url}, 201, {"Location": url})


async def download(req: func.HttpRequest, services: Services) -> func.HttpResponse:
    container = _container(req, services)
    name = _name(req)
    limit = services.settings.max_file_bytes
    store = services.files(container)

    too_large = BodyTooLarge(
        f"{container}/{name} is larger than {limit:,} bytes (BATCH_MAX_FILE_BYTES); read it from Blob Storage directly"
    )

    def read() -> bytes:
        # Its size first: a first ranged read of a large blob is already tens of MiB.
        if store.size(name) > limit:
            raise too_large
        parts: list[bytes] = []
        size = 0
        for chunk in store.chunks(name):
            size += len(chunk)
            if size > limit:
                raise too_large  # it grew since
            parts.append(chunk)
        return b"".join(parts)

    try:
        data = await asyncio.to_thread(read)
    except NotFound:
        raise FileNotFound(f"there is no file {name!r} in container {container!r}") from None
    return func.HttpResponse(body=data, status_code=200, mimetype=OCTET_STREAM)
