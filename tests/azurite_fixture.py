"""A session-wide Azurite on free ports, for tests that need real Azure Storage.

Enable it once for the whole suite with ``pytest_plugins = ["tests.azurite_fixture"]`` in
``tests/conftest.py`` (or ``-p tests.azurite_fixture`` on the command line). Tests then ask for the
``azurite`` fixture and build clients from ``azurite.connection_string``. Names that tests create should be
unique per test (a job id per test, say), because the emulator is shared by the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, AzuriteNotInstalled, start_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite started in a temporary folder on free ports of 127.0.0.1; stopped (SIGTERM) at session end."""
    location = tmp_path_factory.mktemp("azurite")
    try:
        instance = start_azurite(location)
    except AzuriteNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    with instance:
        yield instance
