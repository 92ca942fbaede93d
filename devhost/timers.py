"""Timer triggers: each schedule runs on the host's loop and fires its function at every occurrence.

Time comes from the host's clock, so tests move a manual clock instead of waiting for a schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from devhost.clock import Clock, sleep_until
from devhost.loader import IndexedFunction
from devhost.ncrontab import Schedule, parse_schedule

log = logging.getLogger("devhost.timers")

Fire = Callable[[IndexedFunction, bool], Awaitable[object]]


def _waker(loop: asyncio.AbstractEventLoop, wake: asyncio.Event) -> Callable[[], None]:
    def set_wake() -> None:
        loop.call_soon_threadsafe(wake.set)

    return set_wake


class TimerTrigger:
    """One timer-triggered function and its schedule."""

    def __init__(self, function: IndexedFunction, environ: Mapping[str, str]) -> None:
        self.function = function
        self.schedule: Schedule = parse_schedule(str(function.trigger.get("schedule", "")), environ)
        self.run_on_startup = bool(function.trigger.get("runOnStartup", False))

    def next_after(self, moment: datetime) -> datetime:
        return self.schedule.next_after(moment)


class TimerScheduler:
    """Runs every TimerTrigger until stopped."""

    def __init__(self, triggers: list[TimerTrigger], clock: Clock, fire: Fire) -> None:
        self.triggers = triggers
        self.clock = clock
        self.fire = fire
        self._tasks: list[asyncio.Task[None]] = []
        self._wakes: list[asyncio.Event] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for trigger in self.triggers:
            wake = asyncio.Event()
            self._wakes.append(wake)
            self.clock.on_change(_waker(loop, wake))
            self._tasks.append(asyncio.create_task(self._run(trigger, wake), name=f"timer-{trigger.function.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, trigger: TimerTrigger, wake: asyncio.Event) -> None:
        if trigger.run_on_startup:
            await self._fire(trigger, past_due=False)
        due = trigger.next_after(self.clock.now())
        while True:
            wake.clear()
            now = self.clock.now()
            if now < due:
                await sleep_until(self.clock, due, wake)
                continue
            # Occurrences missed while the host was busy or the clock jumped are one past-due run, as the
            # Functions host does, not a burst of catch-up runs.
            past_due = trigger.next_after(due) <= now
            await self._fire(trigger, past_due=past_due)
            due = trigger.next_after(max(now, due))

    async def _fire(self, trigger: TimerTrigger, *, past_due: bool) -> None:
        try:
            await self.fire(trigger.function, past_due)
        except Exception:
            log.exception("timer function %s failed", trigger.function.name)
