"""The API's end-to-end tests run against `tests.e2e.batch_host`, and every answer they get through the host's
session is checked against the OpenAPI document (`tests.openapi_check`): a module whose answers stray from it
fails at teardown, naming each one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.openapi_check import attach


@pytest.fixture(scope="module")
def batch_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    host = start_batch_host(azurite, tmp_path_factory.mktemp("devhost"))
    checker = attach(host.http)
    try:
        yield host
    finally:
        host.close()
    checker.assert_clean()
