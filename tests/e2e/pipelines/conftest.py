"""Two hosts for this folder's module: the repository's app (`batch_host`, with BATCH_EXAMPLES, so its month-end
close is there) and the features app (`features_host`, with an orchestration of its own around one job), both on
the real clock: `run_job` waits on durable timers."""

from tests.e2e.batch_host import batch_host  # noqa: F401
from tests.e2e.jobs.support import features_host_fixture

features_host = features_host_fixture()
