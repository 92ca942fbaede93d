"""Fixtures shared by every test tier.

- `azurite`: a real Azurite on free ports for the whole session (tests/azurite_fixture.py).
- `sdk`: runs coroutines of the Durable Functions SDK's own client on ONE long-lived event loop. The SDK keeps a
  module-global aiohttp session bound to the first loop that used it, so every SDK call in the session must
  go through this loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest

pytest_plugins = ["tests.azurite_fixture"]

T = TypeVar("T")


class SdkLoop:
    """An event loop on its own thread; `run(coro)` runs a coroutine there and returns its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sdk-loop", daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[T], timeout: float = 120.0) -> T:
        async def wrapper() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def close(self) -> None:
        # The SDK's shared session belongs to this loop: close it here, then the loop.
        from azure.durable_functions.models.utils import http_utils

        self.run(http_utils._close_session())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="session")
def sdk() -> Iterator[SdkLoop]:
    runner = SdkLoop()
    yield runner
    runner.close()
