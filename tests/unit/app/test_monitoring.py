"""When the app exports its log records to Application Insights, and how it signs in to do so."""

from __future__ import annotations

import pytest

from durable_batch.app.monitoring import MonitoringPlan, configure_monitoring, monitoring_plan
from durable_batch.app.settings import SettingsError

pytestmark = pytest.mark.unit

CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x.example/"


def test_export_needs_both_the_connection_string_and_the_switch() -> None:
    assert monitoring_plan({}) is None
    assert monitoring_plan({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}) is None
    assert monitoring_plan({"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"}) is None
    assert configure_monitoring({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}) is False


def test_an_aad_authentication_string_signs_in_with_the_managed_identity() -> None:
    base = {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "True"}
    assert monitoring_plan(base) == MonitoringPlan(CONNECTION, identity=False)
    with_identity = {**base, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD"}
    assert monitoring_plan(with_identity) == MonitoringPlan(CONNECTION, identity=True)
    user_assigned = {**base, "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD;ClientId=abc"}
    assert monitoring_plan(user_assigned) == MonitoringPlan(CONNECTION, identity=True, client_id="abc")


def test_another_authorization_scheme_is_refused() -> None:
    settings = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=Key",
    }
    with pytest.raises(SettingsError, match="Authorization=AAD"):
        monitoring_plan(settings)
