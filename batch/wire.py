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
LOAD_PARTITION = "batch_load_partition"
RUN_TASK = "batch_run_task"
RECORD_TASKS = "batch_record_tasks"
REDUCE = "batch_reduce"
FINISH_JOB = "batch_finish_job"
STOP_PARTITIONS = "batch_stop_partitions"

CANCEL_EVENT = "cancel"
INLINE_RESULT_LIMIT = 1024
"""A result whose JSON is larger than this is written to its own blob by the task activity."""
MAX_LISTED_FAILURES = 100
"""How many failed task ids a partition (and the job summary) lists; the task API lists them all."""


def partition_instance_id(job_id: str, partition: int) -> str:
    """Partitions are sub-orchestrations with ids derived from the job's, so the API can find them."""
    return f"{job_id}:p{partition:05d}"


def group_instance_id(job_id: str, group: int) -> str:
    """Partition groups are the job's sub-orchestrations (each runs a range of partitions), named like them."""
    return f"{job_id}:g{group:04d}"


class JobInput(TypedDict):
    """The job orchestrator's input. The spec itself is in Blob Storage (`{jobId}/job.json`)."""

    jobId: str
    specHash: str
    partitionSize: NotRequired[int]  # the BATCH_PARTITION_SIZE setting when the job was submitted


class PrepareJobInput(TypedDict):
    jobId: str
    specHash: str
    partitionSize: int
    startedAt: str


class PreparedJob(TypedDict):
    """PREPARE_JOB's output: the plan, by counts only."""

    totalTasks: int
    partitionSizes: list[int]
    partitionSize: int
    maxParallelTasks: int
    maxWallClockSeconds: float | None
    onTaskFailure: str
    toleratedFailurePercentage: float
    hasReduce: bool


class PartitionInput(TypedDict):
    jobId: str
    specHash: str
    partition: int
    partitionSize: int
    share: int
    deadline: str | None  # ISO-8601 UTC, from the job orchestrator's clock
    onTaskFailure: str
    skipAll: NotRequired[bool]  # the job stopped before this partition started: record its tasks as skipped


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


class LoadPartitionInput(TypedDict):
    jobId: str
    specHash: str
    partition: int
    partitionSize: int


class PartitionTask(TypedDict):
    """One task as a partition orchestrator needs it: no input, no command line."""

    index: int  # position in the job's task list
    id: str
    dependsOn: list[str]
    maxRetryCount: int
    retryIntervalSeconds: float


class RunTaskInput(TypedDict):
    jobId: str
    specHash: str  # so a process's cached spec is never used for a re-submitted job of the same id
    taskIndex: int
    taskId: str
    attempt: int  # 1-based


class TaskOutcome(TypedDict):
    """RUN_TASK's output. Failures are returned, not raised, so the orchestrator decides on retries and the
    history keeps a small record of each attempt."""

    ok: bool
    result: NotRequired[Any]  # inline when small
    resultBlob: NotRequired[str | None]  # blob name when large
    error: NotRequired[str | None]
    timedOut: NotRequired[bool]
    cancelled: NotRequired[bool]
    startedAt: str
    endedAt: str


class TaskRecord(TypedDict):
    """A task's state as RECORD_TASKS writes it to the task table (and, when finished, to the results)."""

    id: str
    index: int
    state: str  # batch.states.TaskState values
    attempts: int
    error: NotRequired[str | None]
    result: NotRequired[Any]
    resultBlob: NotRequired[str | None]
    startedAt: NotRequired[str | None]
    endedAt: NotRequired[str | None]


class RecordTasksInput(TypedDict):
    jobId: str
    partition: int
    batch: int  # sequence number of this flush within the partition: names the results blob
    records: list[TaskRecord]


class ChildResult(TypedDict):
    """What a partition, or a group of partitions, returns to the orchestrator that started it."""

    taskCounts: dict[str, int]
    failedTasks: list[str]  # at most MAX_LISTED_FAILURES
    terminated: bool  # a task failed under onTaskFailure=terminateJob
    timedOut: bool
    cancelled: bool


class PartitionResult(ChildResult):
    partition: int


class GroupResult(ChildResult):
    """The sums of the group's partitions' results (failedTasks: the first MAX_LISTED_FAILURES of them)."""

    group: int


class ReduceOutcome(TypedDict):
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


class StopPartitionsInput(TypedDict):
    jobId: str
    instanceIds: list[str]  # running groups or partitions (and, from a group under terminateJob, the job)
    reason: str  # "cancel" (abandon running tasks) or "terminate" (let running tasks finish)
