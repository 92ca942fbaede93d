"""What travels between the job's orchestrators and activities: names and JSON shapes, in one place.

Everything here goes through orchestration history and queues, so it stays small: task inputs and results
live in Blob Storage and travel by reference; only results of at most `INLINE_RESULT_LIMIT` bytes ride along.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# Function names, as registered by the batch blueprint. Jobs cannot name these: only task handlers.
JOB_ORCHESTRATOR = "batch_job"
GROUP_ORCHESTRATOR = "batch_group"
PARTITION_ORCHESTRATOR = "batch_partition"
PREPARE_JOB = "batch_prepare_job"
PREPARE_RERUN = "batch_prepare_rerun"
LOAD_PARTITION = "batch_load_partition"
RUN_BATCH = "batch_run_batch"
SETTLE_TASKS = "batch_settle_tasks"
REDUCE = "batch_reduce"
FINISH_JOB = "batch_finish_job"
STOP_PARTITIONS = "batch_stop_partitions"
DISABLE_JOB = "batch_disable_job"
SETTLE_PARTITIONS = "batch_settle_partitions"
AUDIT_JOB = "batch_audit_job"
SCHEDULE_ORCHESTRATOR = "batch_schedule"
SCHEDULE_TICK = "batch_schedule_tick"
POOL_ENTITY = "batch_pool"
SUBMIT_JOB = "batch_submit_job"
"""Submits a job for an app's own orchestration (`durable_batch.run_job`), as `POST /api/jobs` does."""
JOB_OUTCOME = "batch_job_outcome"
"""Reads a job's state for an app's own orchestration that waits for it (`durable_batch.run_job`)."""
"""The durable entity that keeps a pool's slot ledger (`durable_batch.batch.slots.Ledger`); its key is the pool id."""

CANCEL_EVENT = "cancel"


def control_event(number: int) -> str:
    """The name of the `number`th (from 1) live-change event an orchestration gets. To a job, from the job
    API: `ControlChange` (its whole new settings). To a group or a partition, from its parent: `{"share": n}`,
    its new share of the cap (0: start nothing).

    Each name is waited for once: the SDK (1.x) keeps an event that came before its wait and hands it again
    to every later wait of the same name, so one name waited for in a loop would see one event many times.
    """
    return f"control-{number}"


INLINE_RESULT_LIMIT = 1024
"""A result whose JSON is larger than this is written to its own blob by the task activity."""
MAX_LISTED_FAILURES = 100
"""How many failed task ids a partition (and the job summary) lists; the task API lists them all."""


def _run_part(run: int) -> str:
    # Run 1 keeps the ids it always had; a re-run's children are its own instances, never an earlier run's.
    return f":r{run}" if run > 1 else ""


def partition_instance_id(job_id: str, partition: int, run: int = 1) -> str:
    """Partitions are sub-orchestrations with ids derived from the job's (and its run's), so the API can find
    them."""
    return f"{job_id}{_run_part(run)}:p{partition:05d}"


def schedule_instance_id(schedule_id: str, generation: str) -> str:
    """The orchestration that drives one generation of a schedule. `@` is in no job id, so it never meets a
    job's instance or its children's."""
    return f"schedule@{schedule_id}@{generation}"


def group_instance_id(job_id: str, group: int, run: int = 1) -> str:
    """Partition groups are the job's sub-orchestrations (each runs a range of partitions), named like them."""
    return f"{job_id}{_run_part(run)}:g{group:04d}"


class PoolRef(TypedDict):
    """A job's pool as the job read it when it started: what every exchange with the pool carries, so the pool
    knows its size and the job's priority whichever message reaches it first (the newest version wins)."""

    id: str
    slots: int  # the pool's taskSlots
    version: int  # of that configuration: 0 for the default pool's size from the app settings
    priority: int  # the job's priority
    priorityVersion: int  # 0 for the spec's; a PATCH's time in ms
    rateLimits: NotRequired[dict[str, list[float]]]  # key -> [perSecond, burst], the pool's


class PoolExchange(TypedDict):
    """A partition's `exchange` with its pool (`durable_batch.batch.slots.Ledger.exchange`)."""

    pool: PoolRef
    job: str
    holder: str  # the partition's instance id
    release: int
    want: int
    now: int  # the partition's orchestration time, ms since the epoch
    rates: NotRequired[dict[str, int]]  # rate limit key -> start permits wanted
    limited: NotRequired[int]  # its tasks waiting for a rate limit's permits (shown in the pool's view)


class PoolAnswer(TypedDict):
    granted: int
    target: int
    contended: int  # 1 when another holder waits for slots
    permits: NotRequired[dict[str, list[float]]]  # key -> [first ms, count, interval ms, tolerance ms]


class JobInput(TypedDict):
    """The job orchestrator's input. The spec itself is in Blob Storage (`_jobs/{jobId}/job.json`)."""

    jobId: str
    specHash: str
    partitionSize: NotRequired[int]  # the BATCH_PARTITION_SIZE setting when the job was submitted
    run: NotRequired[int]  # 1 (the default) as submitted; a re-run's number (`durable_batch.batch.runs`)


class PrepareJobInput(TypedDict):
    jobId: str
    specHash: str
    partitionSize: int
    startedAt: str


class Reported(TypedDict):
    """An activity's output that reports the storage requests it made (`durable_batch.activities.registration`)."""

    storage: NotRequired[dict[str, int]]  # requests by kind (`durable_batch.batch.cost.STORAGE_KINDS`)


class PreparedJob(Reported):
    """PREPARE_JOB's output: the plan, by counts only."""

    totalTasks: int
    partitionSizes: list[int]
    partitionSize: int
    maxParallelTasks: int
    maxWallClockSeconds: float | None
    onTaskFailure: str
    toleratedFailurePercentage: float
    hasReduce: bool
    pool: NotRequired[PoolRef]  # absent only in histories from before pools
    partitionPlan: NotRequired[SharedPlan]  # every partition's plan but its size, for a job of plain tasks


class EndedBeforeStart(Reported):
    """PREPARE_JOB's (or PREPARE_RERUN's) answer for a job deleted or cancelled while its orchestration was
    starting: it runs nothing, and returns this as it ended."""

    ended: str  # the job's state: cancelled
    reason: str
    taskCounts: dict[str, int]


class PrepareRerunInput(PrepareJobInput):
    run: int


class PreparedRerun(PreparedJob):
    """PREPARE_RERUN's output: the plan, the partitions with tasks to run again, and the counts of the others
    (their tasks all succeeded before)."""

    rerunPartitions: list[int]
    keptCounts: dict[str, int]


class PartitionInput(TypedDict):
    jobId: str
    specHash: str
    partition: int
    partitionSize: int
    share: int
    deadline: str | None  # ISO-8601 UTC, from the job orchestrator's clock
    onTaskFailure: str
    skipAll: NotRequired[bool]  # the job stopped before this partition started: record its tasks as skipped
    taskMs: NotRequired[float | None]  # mean task time measured by earlier partitions: first batch sizes
    commandMs: NotRequired[float]  # mean command task time measured by earlier partitions (version 3: hand back)
    run: NotRequired[int]  # the job's run (1 when absent)
    pool: NotRequired[PoolRef]  # the job's pool: batches start only on slots it grants (absent: no pool)
    version: NotRequired[int]  # PARTITION_VERSION when started; absent: 1, a history from before it
    plan: NotRequired[PartitionPlan]  # its plan, when the job's is shared (`SharedPlan`): no LOAD_PARTITION


class GroupInput(TypedDict):
    """A partition group's input: partitions `firstPartition` .. `firstPartition + partitions - 1` of the job,
    run with at most `share` of the job's tasks at once in all."""

    jobId: str
    specHash: str
    group: int
    firstPartition: int
    partitions: int
    partitionSize: int
    share: int
    deadline: str | None  # ISO-8601 UTC, from the job orchestrator's clock
    onTaskFailure: str
    skipAll: NotRequired[bool]  # the job stopped before this group started: its partitions skip their tasks
    taskMs: NotRequired[float | None]  # mean task time measured by earlier groups
    commandMs: NotRequired[float]  # mean command task time measured by earlier groups
    run: NotRequired[int]  # the job's run (1 when absent)
    partitionList: NotRequired[list[int]]  # a re-run: the job's partitions it runs, instead of a range
    pool: NotRequired[PoolRef]
    plan: NotRequired[SharedPlan]  # the plan of each of its partitions but their sizes, `sizes` (a job of plain tasks)
    sizes: NotRequired[list[int]]


class LoadPartitionInput(TypedDict):
    jobId: str
    specHash: str
    partition: int
    partitionSize: int
    run: NotRequired[int]  # a re-run: the plan says which tasks succeeded before


class SharedPlan(TypedDict):
    """What a partition's plan says of its tasks (`PartitionPlan`, but its size). For a job of plain tasks
    (`durable_batch.batch.plain_tasks`) it is the same for every partition: PREPARE_JOB gives it once
    (`PreparedJob.partitionPlan`) and no partition loads its own."""

    dependsOn: dict[str, list[int]]  # position -> positions it depends on; only tasks that have dependencies
    retries: int  # the job's maxTaskRetryCount
    retryOverrides: dict[str, int]  # position -> a task's own maxRetryCount, where it differs
    retryIntervalSeconds: float
    kinds: dict[str, str]  # position -> "command" or "async"; every other task is a (sync) handler task
    batchSize: int | None  # the job's taskBatchSize, when it sets one


class PartitionPlan(Reported, SharedPlan):
    """LOAD_PARTITION's output: a partition's tasks by their positions in it (0 .. size-1), compactly, since
    it stays in the partition's history. Ids, inputs and command lines stay with the activities."""

    size: int
    done: NotRequired[list[list[int]]]  # a re-run: [first, stop] ranges of positions that succeeded before
    rateKeys: NotRequired[dict[str, str]]  # position -> the pool rate limit its starts count against


def sized_plan(shared: SharedPlan, size: int) -> PartitionPlan:
    """The plan of a partition of `size` tasks of a job whose partitions share their plan."""
    return {
        "size": size,
        "dependsOn": shared["dependsOn"],
        "retries": shared["retries"],
        "retryOverrides": shared["retryOverrides"],
        "retryIntervalSeconds": shared["retryIntervalSeconds"],
        "kinds": shared["kinds"],
        "batchSize": shared["batchSize"],
    }


TaskRun = list[int]
"""[first, stop, attempt]: positions first .. stop-1 of the partition, each at that attempt."""


PARTITION_VERSION = 3
"""The partition orchestrator's version a new partition starts at (`PartitionInput.version`). Version 2: a
batch of one short handler task hands its records back to the partition (`RunBatchInput.handBack`), which
writes those of many such batches at once (`SettleTasksInput.handedBack`). Version 3: so does a command task
measured shorter than a second, which is no longer recorded `running` when it starts. A partition keeps the
path of the version it started at, so a history it left replays unchanged."""

HAND_BACK_MAX_BYTES = 16 * 1024
"""The most a batch hands back of its records (`BatchOutcome.handedBack`, as JSON); a batch with more writes them
itself. A guard that keeps histories small whatever changes: one task's records stay well under it, since its
error (`durable_batch.activities.outcomes.ERROR_LIMIT`) and inline result (`INLINE_RESULT_LIMIT`) are capped before."""


class RanTask(TypedDict):
    """A task a batch ran and handed back to the partition to record (`BatchOutcome.handedBack`)."""

    position: int
    state: str  # succeeded, failed (for good), running (retries remain) or cancelled
    attempts: int
    startedMs: int | None
    endedMs: int | None
    error: NotRequired[str]
    row: NotRequired[dict[str, Any]]  # a succeeded task's result row
    resultJson: NotRequired[str]  # a failed task's last result, when it returned one inline
    resultBlob: NotRequired[str]  # ... or in a blob of its own


class RunBatchInput(TypedDict):
    """One RUN_BATCH call: tasks of one chunk of a partition, run by one activity."""

    jobId: str
    specHash: str  # so a process's cached spec is never used for a re-submitted job of the same id
    partition: int
    partitionSize: int
    batch: int  # sequence number within the partition: names the results blob, recognises a re-run
    tasks: list[TaskRun]
    concurrency: int  # task slots the batch holds: it runs this many of its tasks at once
    markRunning: bool  # record the tasks as running before they start (long tasks: the list shows them)
    run: NotRequired[int]  # the job's run, whose records the batch writes (1 when absent)
    checkFirst: NotRequired[bool]  # read the job's record before the first task: a disable may be on its way
    paced: NotRequired[list[float]]  # [first ms, interval ms, tolerance ms]: the start permits of rate-limited tasks
    isolate: NotRequired[bool]  # each task in a process of its own, one after another (durable_batch.batch.crashes)
    handBack: NotRequired[bool]  # return the records (`BatchOutcome.handedBack`), not write them: PARTITION_VERSION


class BatchOutcome(Reported):
    """RUN_BATCH's output, as the chunk records it. Tasks of the batch not listed succeeded."""

    retry: list[list[int]]  # [position, attempts made]: the last attempt failed and retries remain
    failed: list[list[Any]]  # [position, attempts, task id]: failed for good
    other: list[list[Any]]  # [position, state]: not run by this batch (settled as skipped meanwhile, say)
    cancelled: NotRequired[list[list[int]]]  # [position, attempts]: stopped because the job was cancelled
    held: NotRequired[bool]  # the batch stopped starting tasks: its job's record says disabled, or stopping
    busyMs: int  # time spent running the batch's tasks
    ran: int  # attempts made
    actions: NotRequired[list[list[Any]]]  # [position, jobAction | None, dependencyAction | None]: exit conditions
    interrupted: NotRequired[
        str
    ]  # not run: an earlier delivery's process died running it (durable_batch.batch.crashes)
    handedBack: NotRequired[list[RanTask]]  # with `handBack`: the records the partition writes (absent: written)


class SettleTasksInput(TypedDict):
    """Tasks the partition settled without running them: skipped ones, ones abandoned as failed, and ones
    stopped by a cancel."""

    jobId: str
    specHash: str
    partition: int
    partitionSize: int
    skipped: list[list[int]]  # [first, stop] position ranges
    failed: list[list[Any]]  # [position, attempts, error]
    cancelled: NotRequired[list[list[Any]]]  # [position, attempts, error]: running or retrying at a cancel
    run: NotRequired[int]
    handedBack: NotRequired[list[RanTask]]  # tasks batches ran and handed back (`RunBatchInput.handBack`)
    batch: NotRequired[int]  # with `handedBack`: the number of the results blob they go to (as a batch's)


class ChildResult(TypedDict):
    """What a partition, or a group of partitions, returns to the orchestrator that started it."""

    errors: NotRequired[list[str]]  # one line per child that failed or was terminated (its tasks failed)
    cost: NotRequired[
        dict[str, Any]
    ]  # its durable work and storage requests, its children's included (durable_batch.batch.cost)

    taskCounts: dict[str, int]
    failedTasks: list[str]  # at most MAX_LISTED_FAILURES
    terminated: bool  # a task failed under onTaskFailure=terminateJob
    timedOut: bool
    cancelled: bool


class SettlePartitionsInput(TypedDict):
    """Partitions whose orchestration failed or was terminated: every task of theirs not finished fails."""

    jobId: str
    specHash: str
    partitionSize: int
    partitions: list[int]
    reason: str  # one line: why their tasks failed
    run: NotRequired[int]


class SettledPartitions(Reported):
    taskCounts: dict[str, int]  # the partitions' tasks as recorded now, every one finished
    failedIds: list[str]  # the first MAX_LISTED_FAILURES failed ones


class SettleOutcome(Reported):
    failedIds: list[str]  # recorded as failed by this call (the first MAX_LISTED_FAILURES)
    recorded: dict[str, int]  # how the settled tasks are recorded, by state: a few may have finished meanwhile


class PartitionResult(ChildResult):
    partition: int
    taskMs: NotRequired[float | None]  # mean time of a sync handler task, measured; later partitions start from it
    commandMs: NotRequired[float]  # mean time of a command task, measured (absent: none ran)


class GroupResult(ChildResult):
    """The sums of the group's partitions' results (failedTasks: the first MAX_LISTED_FAILURES of them)."""

    group: int
    taskMs: NotRequired[float | None]
    commandMs: NotRequired[float]


class ReduceOutcome(Reported):
    ok: bool
    result: NotRequired[Any]
    resultBlob: NotRequired[str | None]
    error: NotRequired[str | None]


class FinishJobInput(TypedDict):
    jobId: str
    state: str
    reason: str
    taskCounts: dict[str, int]
    failedTasks: list[str]
    reduce: ReduceOutcome | None
    startedAt: str
    endedAt: str
    run: NotRequired[int]
    cost: NotRequired[dict[str, Any]]  # the job's, as far as it ran (`durable_batch.batch.cost`); in its summary


class FinishedJob(TypedDict):
    """FINISH_JOB's output: the summary's blob, and the fields of the summary as written that an episode makes
    from its history and clock. The job's output takes them from here, not from its own last episode, which
    would make them again from a longer history and a later clock: a finished job's view (from its summary, or
    from its output once the orchestration has returned) never changes."""

    summaryBlob: str
    endedAt: str
    cost: NotRequired[dict[str, Any]]


class AuditJobInput(TypedDict):
    """A job about to say `succeeded`: its records and results are checked against the orchestration's counts."""

    jobId: str
    specHash: str
    partitionSize: int
    taskCounts: dict[str, int]  # what the orchestration counted
    run: NotRequired[int]


class JobAudit(Reported):
    taskCounts: dict[str, int]  # the job's tasks as recorded once the audit has marked the lost ones failed
    lost: int  # tasks whose record or result storage lost: recorded failed now
    lostIds: list[str]  # the first MAX_LISTED_FAILURES of them


class ControlChange(TypedDict, total=False):
    """What the job API changes in a running job; only the fields present change."""

    maxParallelTasks: int
    toleratedFailurePercentage: float
    disabled: bool
    pool: PoolRef  # the pool the job moves to (a `PATCH` of `poolInfo`)


class StopPartitionsInput(TypedDict):
    jobId: str
    instanceIds: list[str]  # running groups or partitions (and, from a group under terminateJob, the job)
    reason: str  # "cancel" (abandon running tasks) or "terminate" (let running tasks finish)
    shares: NotRequired[list[int]]  # instead of a stop: each instance's new share, raised as a control event
    events: NotRequired[list[str]]  # ... under these names (`control_event`), one per instance
    pool: NotRequired[PoolRef]  # ... and with each, the pool they move to


class DisableJobInput(TypedDict):
    """A task's exit condition said `jobAction: disable`: the partition asks to disable its job."""

    jobId: str
    partition: int  # the partition whose task's exit asked (for the log)


DISABLED_NOW = "disabled"
"""DISABLE_JOB's answer when it disabled the job; otherwise it answers the code of the conflict that made the
disable needless (`jobDisabled`, `jobCancelling`, `jobFinished`, ...)."""


class ScheduleInput(TypedDict):
    """The schedule orchestration's input: which schedule, which generation, and the occurrence it waits for."""

    scheduleId: str
    generation: str
    due: str | None  # ISO time of the occurrence this wake is for; None on the first run
    catchUp: bool  # on the first run only: fire the latest occurrence at or before the orchestration's time


class ScheduleTickInput(ScheduleInput):
    now: str  # the orchestration's time at this wake (the host's clock, replay-safe)


class ScheduleTick(TypedDict):
    next: str | None  # the next occurrence, None when there is none
    stop: bool  # the schedule is gone, disabled, replaced by a newer generation, or completed


class SubmitJobInput(TypedDict):
    spec: dict[str, Any]  # the job spec as a user wrote it, with its id (run_job names a job sent without one)


class JobProblem(TypedDict):
    """Why a job an orchestration asked for was not run or cannot be followed: the error the API would answer
    with (`code`, `message`, `details` with each problem's path)."""

    code: str
    message: str
    details: list[dict[str, str]]


class SubmittedJob(TypedDict):
    jobId: str
    created: NotRequired[bool]  # False: the job existed with the same spec, and nothing new started
    problem: NotRequired[JobProblem]  # the submit was refused


class JobResults(TypedDict):
    container: str
    prefix: str
    summaryBlob: str | None


class JobOutcome(TypedDict):
    """A job as an app's own orchestration sees it (`durable_batch.run_job`): the state, counts and failed
    tasks of its view in the API, the reduce handler's output itself, and where its results are."""

    id: str
    state: str  # succeeded, failed or cancelled once finished
    finished: bool
    reason: str | None
    taskCounts: dict[str, int]
    failedTasks: list[str]
    reduce: Any  # the reduce output; None without one, when it failed, or past 256 KiB (then read reduceBlob)
    reduceBlob: str | None
    results: JobResults


class MissingJob(TypedDict):
    """A job its orchestration waits for that is not there any more (deleted meanwhile)."""

    id: str
    problem: JobProblem
