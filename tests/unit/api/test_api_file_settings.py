"""`BATCH_FILE_CONTAINERS`: which containers the files routes reach, and the ones they never do."""

from __future__ import annotations

import pytest

from durable_batch.app.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


def test_by_default_the_results_container_and_batch_inputs() -> None:
    assert Settings.from_environ({}).file_containers == ("batch-results", "batch-inputs")
    custom = Settings.from_environ({"BATCH_RESULTS_CONTAINER": "out"})
    assert custom.file_containers == ("out", "batch-inputs")


def test_the_setting_lists_them_comma_separated() -> None:
    settings = Settings.from_environ({"BATCH_FILE_CONTAINERS": " inputs, images ,inputs,"})
    assert settings.file_containers == ("inputs", "images")


@pytest.mark.parametrize(
    "value", ["Bad_Name", "ab", "azure-webjobs-hosts", "azure-webjobs-secrets", "durablebatch-leases", "hub-devhost"]
)
def test_a_bad_or_reserved_container_stops_the_app_with_the_setting_named(value: str) -> None:
    with pytest.raises(SettingsError, match="BATCH_FILE_CONTAINERS"):
        Settings.from_environ({"BATCH_FILE_CONTAINERS": f"inputs,{value}"})


def test_the_file_limit_is_a_positive_whole_number() -> None:
    assert Settings.from_environ({"BATCH_MAX_FILE_BYTES": "10"}).max_file_bytes == 10
    with pytest.raises(SettingsError, match="BATCH_MAX_FILE_BYTES"):
        Settings.from_environ({"BATCH_MAX_FILE_BYTES": "0"})
