"""Registers the batch activities on the app's blueprint, as closures over the app's `Services`.

Each function's Python name is its activity name (`durable_batch.batch.wire`), so names stay unique app-wide. The bodies
are the plain functions of the other modules of this package, which the tests call directly. The SDK's
decorators are applied as calls (`bp.activity_trigger(...)(fn)`), the same as decorator syntax, because
they are untyped and would otherwise erase the functions' types for the type checker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Dict, TypeVar, cast  # noqa: UP035 (Dict: see batch_reduce)

import azure.durable_functions as df

from durable_batch.activities.audit import audit_job
from durable_batch.activities.batches import run_batch
from durable_batch.activities.job_actions import disable_for_exit
from durable_batch.activities.jobs import finish_job, prepare_job, prepare_rerun
from durable_batch.activities.partitions import load_partition, settle_partitions, settle_tasks
from durable_batch.activities.reduce import reduce_job
from durable_batch.activities.specs import SpecCache
from durable_batch.activities.stop import stop_partitions
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.lib.azure_storage.metering import metered
from durable_batch.operations.orchestrated_jobs import job_outcome, submit_for_orchestration
from durable_batch.operations.schedule_runs import tick

__all__ = ["register", "reporting_storage"]

Output = TypeVar("Output", bound=Mapping[str, Any])


def reporting_storage(work: Callable[[], Output]) -> Output:
    """Run an activity's body, and put the storage requests it made (by kind) in its output's `storage`: the
    orchestrator adds them to the job's cost (`durable_batch.batch.cost`)."""
    with metered() as meter:
        output = work()
    cast(dict[str, Any], output)["storage"] = meter.counts()
    return output


def register(bp: df.Blueprint, services: Services) -> None:
    """Define the batch activities on `bp`, sharing one spec cache (per process, as `services` is)."""
    # Both lambdas put off making the storage clients to the first call: the app must import (and answer 503
    # naming the setting to fix) while storage is not configured, or configured wrongly.
    specs = SpecCache(
        lambda job_id: services.results.read_job_spec(job_id),
        blocks=lambda factory: services.sources.block_reader(factory, read_ahead=True),
    )

    def batch_prepare_job(data: wire.PrepareJobInput) -> wire.PreparedJob | wire.EndedBeforeStart:
        return reporting_storage(lambda: prepare_job(services, specs, data))

    def batch_prepare_rerun(data: wire.PrepareRerunInput) -> wire.PreparedRerun | wire.EndedBeforeStart:
        return reporting_storage(lambda: prepare_rerun(services, specs, data))

    def batch_load_partition(data: wire.LoadPartitionInput) -> wire.PartitionPlan:
        return reporting_storage(lambda: load_partition(services, specs, data))

    def batch_run_batch(data: wire.RunBatchInput) -> wire.BatchOutcome:
        return reporting_storage(lambda: run_batch(services, specs, data))

    def batch_settle_tasks(data: wire.SettleTasksInput) -> wire.SettleOutcome:
        return reporting_storage(lambda: settle_tasks(services, specs, data))

    def batch_settle_partitions(data: wire.SettlePartitionsInput) -> wire.SettledPartitions:
        return reporting_storage(lambda: settle_partitions(services, specs, data))

    # typing.Dict, not dict[...]: on Python 3.13 Azure's worker library (azure-functions-runtime) refuses to load an
    # app whose binding parameter is annotated by a builtin generic like dict[str, Any] ("invalid non-type annotation").
    def batch_reduce(data: Dict[str, Any]) -> wire.ReduceOutcome:  # noqa: UP006
        return reporting_storage(lambda: reduce_job(services, specs, data))

    def batch_audit_job(data: wire.AuditJobInput) -> wire.JobAudit:
        return reporting_storage(lambda: audit_job(services, specs, data))

    def batch_finish_job(data: wire.FinishJobInput) -> wire.FinishedJob:
        return finish_job(services, data)

    # A Durable client binding on an activity: the function must be `async def`, and the SDK hands it a
    # DurableOrchestrationClient. It makes no storage calls, so nothing here blocks the event loop.
    async def batch_stop_partitions(data: wire.StopPartitionsInput, client: df.DurableOrchestrationClient) -> int:
        return await stop_partitions(client, data)

    # The job API's own disable: its storage calls run on threads, as they do behind the routes.
    async def batch_disable_job(data: wire.DisableJobInput, client: df.DurableOrchestrationClient) -> str:
        return await disable_for_exit(client, services, data)

    async def batch_schedule_tick(
        data: wire.ScheduleTickInput, client: df.DurableOrchestrationClient
    ) -> wire.ScheduleTick:
        return await tick(client, services, data)

    # An app's own orchestration's job (`durable_batch.run_job`): submitted and read as the job API does.
    async def batch_submit_job(data: wire.SubmitJobInput, client: df.DurableOrchestrationClient) -> wire.SubmittedJob:
        return await submit_for_orchestration(client, services, data)

    async def batch_job_outcome(data: str, client: df.DurableOrchestrationClient) -> wire.JobOutcome | wire.MissingJob:
        return await job_outcome(client, services, data)

    for name, function in (
        (wire.PREPARE_JOB, batch_prepare_job),
        (wire.PREPARE_RERUN, batch_prepare_rerun),
        (wire.LOAD_PARTITION, batch_load_partition),
        (wire.RUN_BATCH, batch_run_batch),
        (wire.SETTLE_TASKS, batch_settle_tasks),
        (wire.SETTLE_PARTITIONS, batch_settle_partitions),
        (wire.REDUCE, batch_reduce),
        (wire.AUDIT_JOB, batch_audit_job),
        (wire.FINISH_JOB, batch_finish_job),
    ):
        bp.activity_trigger(input_name="data", activity=name)(function)
    for name, client_function in (
        (wire.STOP_PARTITIONS, batch_stop_partitions),
        (wire.DISABLE_JOB, batch_disable_job),
        (wire.SCHEDULE_TICK, batch_schedule_tick),
        (wire.SUBMIT_JOB, batch_submit_job),
        (wire.JOB_OUTCOME, batch_job_outcome),
    ):
        bp.activity_trigger(input_name="data", activity=name)(
            bp.durable_client_input(client_name="client")(client_function)
        )
