"""`GET /api/openapi.json`: the API's OpenAPI 3.1 document, from the two files kept in `schema/`.

`durable_batch/schema/openapi.json` describes the routes and answers; `durable_batch/schema/job.schema.json` is the job
spec's JSON Schema, which editors use on its own. The document refers to the schema by file name (for tools that read
the repository); the served copy embeds it under `components.schemas.JobSpec`, so a client of the running app needs
nothing else. Each fact lives in one of the two files, never in both.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import json_response

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
OPENAPI_FILE = SCHEMA_DIR / "openapi.json"
JOB_SCHEMA_FILE = SCHEMA_DIR / "job.schema.json"
JOB_SPEC_POINTER = "#/components/schemas/JobSpec"


def embed(document: dict[str, Any], job_schema: dict[str, Any]) -> dict[str, Any]:
    """`document` with its `JobSpec` component replaced by `job_schema`, whose own `#/$defs/...` references are
    rewritten to point into the component (a reference inside a document resolves from the document's root)."""

    def rebase(value: Any) -> Any:
        if isinstance(value, dict):
            out = {key: rebase(item) for key, item in value.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                out["$ref"] = JOB_SPEC_POINTER + ref[1:]
            return out
        if isinstance(value, list):
            return [rebase(item) for item in value]
        return value

    embedded = rebase({key: item for key, item in job_schema.items() if key not in ("$schema", "$id")})
    result = copy.deepcopy(document)
    result["components"]["schemas"]["JobSpec"] = embedded
    return result


@functools.cache
def document() -> dict[str, Any]:
    """The served document (read once per process; the files ship with the app)."""
    openapi = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    job_schema = json.loads(JOB_SCHEMA_FILE.read_text(encoding="utf-8"))
    return embed(openapi, job_schema)


def register(bp: df.Blueprint) -> None:
    app = http.registrar(bp)

    @app.route(route="openapi.json", methods=["GET"])
    async def api_openapi(req: func.HttpRequest) -> func.HttpResponse:
        async def answer() -> func.HttpResponse:
            return json_response(document())

        return await http.guarded(answer)
