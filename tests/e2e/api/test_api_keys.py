"""With keys required, every route the API document describes refuses a caller without a function key and
serves one with it (the files and the document's own routes as much as the job routes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devhost.azurite import Azurite
from durable_batch.api.openapi import document
from tests.e2e.batch_host import BatchHost, start_batch_host

pytestmark = pytest.mark.e2e

SAMPLES = {
    "jobId": "no-such-job",
    "taskId": "t",
    "instanceId": "no-such-job:p00000",
    "scheduleId": "no-such-schedule",
    "poolId": "no-such-pool",
    "container": "batch-inputs",
    "path": "keys/a.txt",
}


@pytest.fixture(scope="module")
def keyed_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    host = start_batch_host(azurite, tmp_path_factory.mktemp("devhost"), extra_args=["--require-keys"])
    try:
        yield host
    finally:
        host.close()


def routes() -> list[tuple[str, str]]:
    methods = ("get", "put", "post", "delete")
    found = []
    for path, item in document()["paths"].items():
        url = path.format(**SAMPLES)
        found += [(method.upper(), url) for method in item if method in methods]
    return found


@pytest.mark.parametrize(("method", "path"), routes())
def test_every_route_needs_a_function_key(keyed_host: BatchHost, method: str, path: str) -> None:
    assert keyed_host.process.keys is not None
    url = keyed_host.url(path)
    body = b"{}" if method in ("POST", "PUT") else None
    refused = requests.request(method, url, data=body, timeout=60)
    assert refused.status_code == 401, refused.text
    key = {"x-functions-key": keyed_host.process.keys.function_key}
    served = requests.request(method, url, data=body, headers=key, timeout=60)
    assert served.status_code != 401 and served.status_code < 500, served.text


def test_the_reference_apps_own_route_needs_a_function_key_too(keyed_host: BatchHost) -> None:
    assert keyed_host.process.keys is not None
    url = keyed_host.url("/pipelines/month-end")
    body = b'{"stores": 0}'  # refused once the key lets it in: nothing is started
    assert requests.post(url, data=body, timeout=60).status_code == 401
    key = {"x-functions-key": keyed_host.process.keys.function_key}
    served = requests.post(url, data=body, headers=key, timeout=60)
    assert served.status_code == 400 and served.json()["error"]["details"][0]["path"] == "stores"
