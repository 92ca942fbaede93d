"""How a pool's task slots are handed out: the pool's ledger (kept by its durable entity) and a partition's lease.

A partition holds slots of its job's pool; it starts batches only on slots it holds (`Lease.limit`). At batch
boundaries it sends the pool one `exchange`: the slots it gives back and how many more it could use now. The
pool (`Ledger.exchange`) answers with the slots it grants and the holder's fair **target**:

- priorities first: a job's demand (the slots its holders hold and want) is met from the pool's slots in order
  of priority, highest first;
- equal priorities share fairly: each job gets an equal part of what is left, a job that wants less than its
  part leaves the rest to the others (water-filling), never more than it asks for (its partitions never ask for
  more than their shares of its `maxParallelTasks`);
- no task is stopped to make room: a holder over its target keeps the slots its running batches hold, gives
  back the others at its next boundary, and starts nothing new until it is under its target;
- the slots held never add up to more than the pool's slots (after the pool is made smaller, once the batches
  started before have ended): a grant never exceeds the free slots, and a holder gives back only slots no
  running batch holds.

A holder that asked and got nothing asks again after a short durable timer (`Lease.poll_delay`); the pool keeps
its demand meanwhile, so its target counts from the first ask. Both sides are pure and deterministic: the ledger
runs in an entity (operations one at a time, exactly once), the lease in the partition's replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from durable_batch.batch.spec import DEFAULT_PRIORITY

__all__ = [
    "POLL_MS",
    "RENEW_MS",
    "STALE_MS",
    "Holder",
    "Lease",
    "Ledger",
    "fair_targets",
]

RENEW_MS = 1_000
"""A holder that neither gives back nor wants slots still asks at a batch boundary this long after its last
exchange, to learn its target: a job that arrived meanwhile gets its part within about a batch."""
POLL_MS = (250, 500, 1_000, 2_000)
"""How long a holder that got nothing waits before it asks again: short at first (slots come free at the other
holders' batch boundaries, about every batch), longer while it keeps getting nothing."""
STALE_MS = 30_000
"""A holder that holds nothing and has not asked for this long is forgotten: its demand stops counting. A
waiting holder asks at least every `POLL_MS[-1]`."""
PERMIT_HORIZON_MS = 1_000
"""Start permits of a rate limit are handed out for at most this far ahead: a batch that got them waits at most
this long (holding its slots) for its tasks' turns, and a partition asks again about this often."""


def permit_window(per_second: float, burst: int, next_ms: float, now_ms: int, want: int) -> tuple[list[float], float]:
    """Start permits of a rate limit (GCRA, the generic cell rate algorithm): `[first_ms, count, interval_ms,
    tolerance_ms]` for up to `want` starts, and the limit's next free start time.

    Start i may happen from `first + i * interval` to `tolerance` later, never earlier: so the starts of any
    one-second window were granted times within `1 + burst / perSecond` seconds of each other, spaced by the
    interval, which is at most `perSecond + burst` starts. Permits go at most `PERMIT_HORIZON_MS` ahead."""
    interval = 1000.0 / per_second
    first = max(next_ms, float(now_ms))
    room = now_ms + PERMIT_HORIZON_MS - first
    count = 0 if room < 0 or want <= 0 else min(want, int(room // interval) + 1)
    # A start may come up to half an interval late even without a burst: sleeping to a moment overshoots it.
    return [first, count, interval, max(burst * interval, interval / 2)], first + count * interval


def fair_targets(slots: int, demands: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """Each job's fair part of `slots`, given `demands`: job -> (priority, slots it could use).

    Higher priorities are served first; within a priority the rest is water-filled (jobs in order of
    demand, then id, each gets at most an equal part of what is left). The targets add up to at most `slots`.
    """
    targets: dict[str, int] = {}
    left = max(0, slots)
    for priority in sorted({p for p, _ in demands.values()}, reverse=True):
        tier = sorted((demand, job) for job, (p, demand) in demands.items() if p == priority)
        for i, (demand, job) in enumerate(tier):
            part = -(-left // (len(tier) - i))  # ceil: the first jobs take the remainder, the sum stays <= left
            targets[job] = min(max(0, demand), part)
            left -= targets[job]
    return targets


@dataclass
class Holder:
    """A partition that holds or wants slots of the pool."""

    job: str
    held: int = 0
    want: int = 0
    at: int = 0
    """Its last exchange, in ms of its orchestration's time."""
    limited: int = 0
    """Its tasks waiting for a rate limit's start permits, at its last exchange."""

    def to_json(self) -> list[Any]:
        return [self.job, self.held, self.want, self.at, self.limited]

    @classmethod
    def from_json(cls, value: Any) -> Holder:
        job, held, want, at, *rest = value
        return cls(str(job), int(held), int(want), int(at), int(rest[0]) if rest else 0)


@dataclass
class Ledger:
    """A pool's state: its size, who holds and wants its slots, and its jobs' priorities.

    `version` orders configurations: a `PUT` writes a higher one, and every request carries the configuration
    its job read, so the newest wins whichever arrives first.
    """

    slots: int = 0
    version: int = -2
    """-2: never configured; -1: a size a job guessed for a pool that was deleted (any definition wins)."""
    holders: dict[str, Holder] = field(default_factory=dict)
    priorities: dict[str, list[int]] = field(default_factory=dict)
    """job -> [priority, version]: the job's priority, from its exchanges and from `PATCH` (newest wins)."""
    rates: dict[str, list[float]] = field(default_factory=dict)
    """Rate limit key -> [perSecond, burst], from the configuration."""
    next_ms: dict[str, float] = field(default_factory=dict)
    """Rate limit key -> the earliest time its next start permit may have."""

    # -- state as the entity stores it ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "version": self.version,
            "holders": {key: holder.to_json() for key, holder in self.holders.items()},
            "priorities": self.priorities,
            "rates": self.rates,
            "next": self.next_ms,
        }

    @classmethod
    def from_json(cls, value: Any) -> Ledger:
        if not isinstance(value, dict):
            return cls()
        return cls(
            int(value.get("slots", 0)),
            int(value.get("version", -2)),
            {key: Holder.from_json(item) for key, item in (value.get("holders") or {}).items()},
            {str(job): [int(p), int(v)] for job, (p, v) in (value.get("priorities") or {}).items()},
            {str(key): [float(r), float(b)] for key, (r, b) in (value.get("rates") or {}).items()},
            {str(key): float(at) for key, at in (value.get("next") or {}).items()},
        )

    # -- operations -------------------------------------------------------------------------------------------

    def configure(self, slots: int, version: int, rates: Mapping[str, list[float]] | None = None) -> None:
        # An equal version wins too: the default pool's size from the settings is version 0 on every start.
        if version >= self.version:
            self.slots, self.version = slots, version
            if rates is not None:
                self.rates = {key: list(rate) for key, rate in rates.items()}
                self.next_ms = {key: at for key, at in self.next_ms.items() if key in self.rates}

    def permits(self, wanted: Mapping[str, int], now_ms: int) -> dict[str, list[float]]:
        """Start permits for the rate-limited tasks a holder has ready, by key (`permit_window`). A key the pool
        does not limit (any more) gets every permit at once."""
        granted: dict[str, list[float]] = {}
        for key, want in sorted(wanted.items()):
            rate = self.rates.get(key)
            if rate is None:
                granted[key] = [float(now_ms), max(0, want), 0.0, 0.0]
                continue
            window, self.next_ms[key] = permit_window(rate[0], int(rate[1]), self.next_ms.get(key, 0.0), now_ms, want)
            granted[key] = window
        return granted

    def set_priority(self, job: str, priority: int, version: int) -> None:
        known = self.priorities.get(job)
        if known is None or version >= known[1]:
            self.priorities[job] = [priority, version]

    def priority(self, job: str) -> int:
        known = self.priorities.get(job)
        return known[0] if known is not None else DEFAULT_PRIORITY

    @property
    def in_use(self) -> int:
        return sum(holder.held for holder in self.holders.values())

    def exchange(
        self, holder_id: str, job: str, *, release: int, want: int, now_ms: int, limited: int = 0
    ) -> dict[str, int]:
        """A holder gives back `release` slots and asks for `want` more: returns `{"granted", "target",
        "contended"}` (1 when another holder waits for slots: slots this one does not need should come back
        at once, not at its next renewal)."""
        self._forget_stale(now_ms)
        holder = self.holders.setdefault(holder_id, Holder(job))
        holder.held -= min(max(0, release), holder.held)
        holder.want, holder.at, holder.limited = max(0, want), now_ms, max(0, limited)
        targets = fair_targets(self.slots, self._demands())
        held_by_job = self._held_by_job()
        room = targets.get(job, 0) - held_by_job.get(job, 0)
        granted = max(0, min(holder.want, self.slots - self.in_use, room))
        holder.held += granted
        holder.want -= granted
        # What it may hold if the job's other holders keep theirs: less than it holds when the job is over.
        target = max(0, holder.held + room - granted)
        if holder.held == 0 and holder.want == 0 and holder.limited == 0:
            del self.holders[holder_id]
        contended = any(h.want > 0 for key, h in self.holders.items() if key != holder_id)
        return {"granted": granted, "target": target, "contended": int(contended)}

    def release(self, holder_ids: Iterable[str]) -> None:
        """Holders that ended (or failed): their slots are free and their demand no longer counts."""
        for holder_id in holder_ids:
            self.holders.pop(holder_id, None)

    def leave(self, job: str) -> None:
        """A job ended: whatever its holders still hold (a partition that failed, say) is free again."""
        self.release([key for key, holder in self.holders.items() if holder.job == job])
        self.priorities.pop(job, None)

    def jobs(self) -> list[dict[str, Any]]:
        """The jobs that hold or wait for slots: `jobId`, `priority`, `slots` held, `waiting` (slots its ready
        tasks could use and did not get) and `rateLimited` (its tasks waiting for a rate limit's permits)."""
        held, wanted = self._held_by_job(), self._wanted_by_job()
        limited: dict[str, int] = {}
        for holder in self.holders.values():
            limited[holder.job] = limited.get(holder.job, 0) + holder.limited
        return [
            {
                "jobId": job,
                "priority": self.priority(job),
                "slots": held.get(job, 0),
                "waiting": wanted.get(job, 0),
                "rateLimited": limited.get(job, 0),
            }
            for job in sorted(
                set(held) | set(wanted) | {j for j, n in limited.items() if n}, key=lambda j: (-self.priority(j), j)
            )
        ]

    # -- helpers ----------------------------------------------------------------------------------------------

    def _forget_stale(self, now_ms: int) -> None:
        stale = [key for key, h in self.holders.items() if h.held == 0 and now_ms - h.at > STALE_MS]
        self.release(stale)

    def _held_by_job(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for holder in self.holders.values():
            totals[holder.job] = totals.get(holder.job, 0) + holder.held
        return totals

    def _wanted_by_job(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for holder in self.holders.values():
            if holder.want:
                totals[holder.job] = totals.get(holder.job, 0) + holder.want
        return totals

    def _demands(self) -> dict[str, tuple[int, int]]:
        held, wanted = self._held_by_job(), self._wanted_by_job()
        return {job: (self.priority(job), held.get(job, 0) + wanted.get(job, 0)) for job in set(held) | set(wanted)}


@dataclass
class Lease:
    """A partition's slots of its pool, as its history says: the orchestrator asks `request` at each step and
    sends what it returns, feeds the answer to `answered`, and starts batches only within `limit`."""

    held: int = 0
    target: int | None = None
    """The pool's last word on how many slots this holder should hold (None: not asked yet)."""
    asking: int | None = None
    """The `want` of the exchange in flight, or None."""
    denials: int = 0
    """Exchanges in a row that granted less than was wanted."""
    waiting: bool = False
    """A denied holder waits for its poll timer before it asks again."""
    last_ms: int | None = None
    registered: int = 0
    """The demand the pool counts for it: what it wanted and was not granted at its last exchange."""
    contended: bool = False
    """Whether another holder waited for slots at its last exchange: then idle slots go back at once."""
    ever: bool = False
    """Whether it ever asked: only then has the pool anything of it to release at the end."""

    def limit(self, share: int) -> int:
        """The slots its batches may hold in all now."""
        held = self.held if self.target is None else min(self.held, self.target)
        return max(0, min(share, held))

    def request(
        self, *, in_use: int, desired: int, now_ms: int, boundary: bool, force: bool = False
    ) -> dict[str, int] | None:
        """What to send the pool now (`{"release", "want"}`), or None. `desired` is how many slots it could use
        now (at most its share), `boundary` whether a batch ended since the last step, `force` whether to ask
        anyway (for start permits of rate-limited tasks)."""
        if self.asking is not None:
            return None
        keep = max(in_use, desired if self.target is None else min(desired, self.target))
        release = max(0, self.held - keep)
        want = max(0, desired - (self.held - release))
        # Idle slots go back at once when others wait for slots; else with the next exchange, at the latest at
        # the next renewal (whose answer says whether others wait).
        renew = boundary and self.held > 0 and (self.last_ms is None or now_ms - self.last_ms >= RENEW_MS)
        # Less demand than the pool counts (tasks ran out, the job was disabled) is said at once: it would
        # lower the others' targets for nothing.
        shrank = want < self.registered
        # With nothing running no boundary will come to give them back later: idle slots go back now.
        prompt = self.contended or in_use == 0 or desired == 0
        if not (force or (release and prompt) or shrank or (want and not self.waiting) or renew):
            return None
        self.held -= release
        self.asking, self.last_ms, self.ever = want, now_ms, True
        return {"release": release, "want": want}

    def answered(self, answer: Any) -> None:
        """The pool's answer to the exchange in flight."""
        granted = int(answer.get("granted", 0)) if isinstance(answer, dict) else 0
        target = answer.get("target") if isinstance(answer, dict) else None
        wanted = self.asking or 0
        self.held += max(0, granted)
        self.target = int(target) if isinstance(target, int) else self.target
        self.registered = max(0, wanted - granted)
        self.contended = bool(answer.get("contended")) if isinstance(answer, dict) else False
        self.asking = None
        if granted < wanted:
            # Some granted: slots are coming free, so the next ask comes soon. None: the wait grows.
            self.denials = 1 if granted > 0 else self.denials + 1
            self.waiting = True
        else:
            self.denials = 0

    def poll_delay_ms(self) -> int:
        return POLL_MS[min(len(POLL_MS), max(1, self.denials)) - 1]

    def poll_fired(self) -> None:
        self.waiting = False
