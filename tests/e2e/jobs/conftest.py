"""Each module of this folder gets its own devhost on the batch_features app (see `support`): on a manual
clock, so retry intervals and wall-clock limits are reached by advancing it, never by sleeping; with devhost's
default worker processes (one per core, at least two), as a user gets them, so limits and counts hold across
processes; and with partitions of 50 tasks, so modest jobs span several partitions."""

from tests.e2e.jobs.support import features_host_fixture

features_host = features_host_fixture(manual_clock=True, env={"BATCH_PARTITION_SIZE": "50"})
