"""Each module of this folder gets its own devhost on the batch_features app, on the real clock (a partition
that gets no slots waits on short durable timers before it asks its pool again), with two worker processes as
the main job runs; every answer of the API is checked against the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite
from tests.e2e.jobs.support import FeaturesHost, start_features_host
from tests.openapi_check import attach


@pytest.fixture(scope="module")
def pool_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeaturesHost]:
    host = start_features_host(azurite, tmp_path_factory.mktemp("pools"), {"FUNCTIONS_WORKER_PROCESS_COUNT": "2"})
    checker = attach(host.http)
    try:
        yield host
    finally:
        host.close()
    checker.assert_clean()
