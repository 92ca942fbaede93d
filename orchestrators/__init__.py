"""This app's own orchestrations: durable workflows of its own, built on the framework's jobs.

The reference deployment's one is an example (`orchestrators.month_end`: a pipeline of two example jobs), so it
is registered only when the app setting `BATCH_EXAMPLES` is `true`, with the example handlers its jobs run
(`activities/`). An app of your own puts its orchestrations here, and runs jobs from them with
`yield from durable_batch.run_job(context, spec)`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import azure.durable_functions as df

from durable_batch import Settings


def app_orchestrations(environ: Mapping[str, str] | None = None) -> df.Blueprint:
    """The orchestrations (and the routes that start them) `function_app.py` registers."""
    bp = df.Blueprint()
    if Settings.from_environ(os.environ if environ is None else environ).examples:
        # Imported only here: the pipeline builds its jobs with the examples' generators, which a deployment
        # without BATCH_EXAMPLES does not carry (.funcignore leaves examples/ out).
        from orchestrators.month_end import register

        register(bp)
    return bp
