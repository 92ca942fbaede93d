"""Storage out of reach answers 503 in the API's error shape, with `Retry-After`: the job API's one mapping."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func
import pytest

from durable_batch.api import http
from durable_batch.lib.azure_storage.errors import StorageUnreachable

pytestmark = pytest.mark.unit


def test_storage_out_of_reach_is_a_503_with_retry_after() -> None:
    async def action() -> func.HttpResponse:
        raise StorageUnreachable("cannot reach Table Storage at http://127.0.0.1:1 to read the job: timed out")

    response = asyncio.run(http.guarded(action))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body()) == {
        "error": {
            "code": "serviceUnavailable",
            "message": "storage is not available: cannot reach Table Storage at http://127.0.0.1:1 to read the job: "
            "timed out",
            "details": [],
        }
    }
