"""Export the app's own log records to Application Insights with their structured fields.

The Functions host forwards a Python worker's log records as text; their ``extra`` fields (the job and task
ids, `durable_batch.activities.telemetry`) reach ``customDimensions`` only when the worker exports them itself through
OpenTelemetry. That happens when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set and
`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` is true (the template sets both; host.json's
``telemetryMode: OpenTelemetry`` keeps the host from sending the same records a second time). With
``APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD[;ClientId=...]`` the export signs in with the
app's managed identity, as the host does, so the resource can refuse key-based ingestion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from durable_batch.app.settings import SettingsError

CONNECTION = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
ENABLE = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
LOGGER = "durable_batch"
"""The logger whose records (and its children's: `durable_batch.tasks`, `durable_batch.jobs`) are exported."""


@dataclass(frozen=True)
class MonitoringPlan:
    connection_string: str
    identity: bool
    client_id: str | None = None


def monitoring_plan(environ: Mapping[str, str]) -> MonitoringPlan | None:
    """What to export with, from app settings; None when export is not asked for."""
    connection = (environ.get(CONNECTION) or "").strip()
    enabled = (environ.get(ENABLE) or "").strip().lower() == "true"
    if not (connection and enabled):
        return None
    parts = dict(
        (key.strip().lower(), value.strip())
        for key, _, value in (part.partition("=") for part in (environ.get(AUTHENTICATION) or "").split(";"))
        if key.strip()
    )
    scheme = parts.get("authorization", "")
    if scheme and scheme.lower() != "aad":
        raise SettingsError(f"app setting {AUTHENTICATION} must say Authorization=AAD, not Authorization={scheme}")
    return MonitoringPlan(connection, identity=bool(scheme), client_id=parts.get("clientid") or None)


def configure_monitoring(environ: Mapping[str, str]) -> bool:
    """Start the OpenTelemetry export when the settings ask for it; whether they did."""
    plan = monitoring_plan(environ)
    if plan is None:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    credential = None
    if plan.identity:
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=plan.client_id)
    configure_azure_monitor(connection_string=plan.connection_string, credential=credential, logger_name=LOGGER)
    return True
