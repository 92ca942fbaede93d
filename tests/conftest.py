"""Fixtures shared by every test tier.

- `azurite`: a real Azurite on free ports for the whole session (tests/azurite_fixture.py).
- No process outlives the run: one left behind fails it, naming the test that started it (tests/leftovers.py).
- Tiers by folder: every test gets its folder's tier marker (`pytest_collection_modifyitems`); a test marked for
  another tier stops the run, and so does a run of the whole suite that collected nothing in a tier.
- `sdk`: runs coroutines of the Durable Functions SDK's own client on ONE long-lived event loop. The SDK keeps a
  module-global aiohttp session bound to the first loop that used it, so every SDK call in the session must
  go through this loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

pytest_plugins = ["tests.azurite_fixture", "tests.leftovers"]

T = TypeVar("T")

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "process", "host", "e2e")


def whole_suite(config: pytest.Config) -> bool:
    """Whether this run asked for every test: no paths other than the suite (or the repository) and no
    selection by keyword, marker, deselection or last failures."""
    # `lf` and `ff` exist only while the cache plugin is loaded (not with `-p no:cacheprovider`).
    last_failed = getattr(config.option, "lf", False) or getattr(config.option, "failedfirst", False)
    if config.option.keyword or config.option.markexpr or config.option.deselect or last_failed:
        return False
    roots = {TESTS, TESTS.parent}
    return all(Path(config.invocation_params.dir, arg.split("::")[0]).resolve() in roots for arg in config.args)


def empty_tiers(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The tiers (`tests/unit`, ...) that collected no test, leaving out those the run `--ignore`s."""
    ignored = [Path(path).resolve() for path in config.getoption("ignore") or []]
    collected = {item.path.resolve().relative_to(TESTS).parts[0] for item in items if item.path.is_relative_to(TESTS)}
    return [
        f"tests/{tier}"
        for tier in TIERS
        if tier not in collected and not any((TESTS / tier).is_relative_to(path) for path in ignored)
    ]


def tier_of(item: pytest.Item) -> str | None:
    """The tier a test belongs to: the folder under tests/ it lives in."""
    if not item.path.is_relative_to(TESTS):
        return None
    tier = item.path.resolve().relative_to(TESTS).parts[0]
    return tier if tier in TIERS else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries its folder's tier marker, written or not, so that a run by marker (`-m unit`) runs the
    whole tier: the folder is the one rule. (Before the markers select: `tryfirst`.)"""
    for item in items:
        tier = tier_of(item)
        if tier is not None and item.get_closest_marker(tier) is None:
            item.add_marker(tier)


def misplaced(items: list[pytest.Item]) -> list[str]:
    """The tests marked for another tier than their folder's: they would run in the wrong tier's runs."""
    return [
        item.nodeid
        for item in items
        if (tier := tier_of(item)) is not None
        and any(item.get_closest_marker(other) is not None for other in TIERS if other != tier)
    ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """A test marked for another tier than its folder's stops the run. A run of the whole suite fails when a tier
    collected nothing (a renamed folder, an import that hides a module, a marker that deselects it all):
    otherwise the rest would pass green without it."""
    wrong = misplaced(session.items)
    if wrong:
        listed = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        pytest.exit(
            f"tests marked for another tier than their folder's: {listed}", returncode=pytest.ExitCode.USAGE_ERROR
        )
    if not whole_suite(session.config):
        return
    empty = empty_tiers(session.config, session.items)
    if empty:
        pytest.exit(
            f"no tests collected in {', '.join(empty)}: every tier must run", returncode=pytest.ExitCode.TESTS_FAILED
        )


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
