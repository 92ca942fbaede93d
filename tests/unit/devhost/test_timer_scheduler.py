"""Timer triggers on a manual clock: run on start-up, fire at each occurrence, one past-due run after a jump."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.clock import ManualClock
from devhost.loader import IndexedFunction
from devhost.timers import TimerScheduler, TimerTrigger

pytestmark = pytest.mark.unit


def _timer(schedule: str, *, run_on_startup: bool = False) -> IndexedFunction:
    trigger: dict[str, Any] = {"type": "timerTrigger", "name": "timer", "schedule": schedule}
    if run_on_startup:
        trigger["runOnStartup"] = True
    return IndexedFunction("tick", "tick", "timerTrigger", trigger, [trigger], lambda **_: None, False)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_occurrences_startup_run_and_past_due() -> None:
    async def scenario() -> list[tuple[datetime, bool]]:
        clock = ManualClock(datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC))
        fired: list[tuple[datetime, bool]] = []

        async def fire(function: IndexedFunction, past_due: bool) -> None:
            fired.append((clock.now(), past_due))

        trigger = TimerTrigger(_timer("%EVERY_MINUTE%", run_on_startup=True), {"EVERY_MINUTE": "0 * * * * *"})
        scheduler = TimerScheduler([trigger], clock, fire)
        scheduler.start()
        await _settle()
        assert fired == [(datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC), False)]  # run_on_startup
        clock.advance(timedelta(seconds=20))  # 00:00:50, before the next occurrence
        await _settle()
        assert len(fired) == 1
        clock.advance(timedelta(seconds=10))  # 00:01:00, exactly on it
        await _settle()
        clock.advance(timedelta(minutes=3, seconds=5))  # 00:04:05: three occurrences went by at once
        await _settle()
        await scheduler.stop()
        return fired

    fired = asyncio.run(scenario())
    assert fired[1:] == [
        (datetime(2030, 1, 1, 0, 1, 0, tzinfo=UTC), False),
        (datetime(2030, 1, 1, 0, 4, 5, tzinfo=UTC), True),  # one past-due run, not a burst of three
    ]
