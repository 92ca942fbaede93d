"""A job as the app stored it before `_jobs/` existed, made from one that ran: its files moved from
`_jobs/{jobId}/` to `{jobId}/` (and every name of them in its files and task records), and its record without
a layout. What a host of this version finds of a job submitted before the upgrade."""

from __future__ import annotations

from azure.data.tables import TableServiceClient, UpdateMode

from devhost.azurite import Azurite
from durable_batch.storage import ContainerBlobs, get_account
from durable_batch.storage.jobs import TABLE as JOBS_TABLE
from durable_batch.storage.results import DEFAULT_CONTAINER
from durable_batch.storage.tasks import TABLE as TASKS_TABLE


def move_to_old_layout(azurite: Azurite, job_id: str) -> list[str]:
    """Move the finished job `job_id` to the old layout; the names its files have there. Run it while no host
    runs: a host keeps what it learnt of a job's layout."""
    new, old = f"_jobs/{job_id}/", f"{job_id}/"
    blobs = ContainerBlobs(get_account(azurite.connection_string), DEFAULT_CONTAINER)
    moved = []
    for name in list(blobs.list_names(new)):
        if name == f"{new}job.index":
            continue  # written since: a job of the old layout has none (and the spec's bytes move below)
        data = blobs.get(name).replace(new.encode(), old.encode())
        blobs.put(old + name[len(new) :], data)
        moved.append(old + name[len(new) :])
    blobs.delete(list(blobs.list_names(new)))
    tables = TableServiceClient.from_connection_string(azurite.connection_string)
    for entity in tables.get_table_client(TASKS_TABLE).query_entities(f"PartitionKey eq '{job_id}'"):
        changed = {key: value.replace(new, old) if isinstance(value, str) else value for key, value in entity.items()}
        tables.get_table_client(TASKS_TABLE).update_entity(changed, mode=UpdateMode.REPLACE)
    jobs = tables.get_table_client(JOBS_TABLE)
    for entity in jobs.query_entities(f"PartitionKey eq 'jobs' and jobId eq '{job_id}'"):
        jobs.update_entity({key: value for key, value in entity.items() if key != "layout"}, mode=UpdateMode.REPLACE)
    return sorted(moved)
