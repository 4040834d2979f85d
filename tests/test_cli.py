"""The CLI turns bad settings into one readable line and a non-zero exit, never a trace."""

from __future__ import annotations

import pytest

from cirm.cli import main
from cirm.settings import SettingsError, load_settings, redact_url


def test_unsupported_source_url_is_a_clear_error(capsys: pytest.CaptureFixture[str], monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CIRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CIRM_SOURCE_URL", "mysql://db/cases")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cirm: error: CIRM_SOURCE_URL='mysql://db/cases' is not supported")
    assert "Traceback" not in err


def test_settings_defaults_and_overrides(tmp_path) -> None:
    default = load_settings({"CIRM_DATA_DIR": str(tmp_path)})
    assert default.source_url == f"sqlite:///{tmp_path / 'operational.db'}"
    assert default.warehouse_path == tmp_path / "warehouse.duckdb"
    assert load_settings({"CIRM_DATA_DIR": str(tmp_path), "CIRM_SOURCE_URL": "none"}).source_url is None
    pg = load_settings({"CIRM_SOURCE_URL": "postgres://u@h:5432/db"})
    assert pg.source_url == "postgresql://u@h:5432/db" and pg.source_kind == "postgresql"
    with pytest.raises(SettingsError):
        load_settings({"CIRM_SOURCE_URL": "ftp://x"})


def test_model_selection_days_is_a_whole_number_of_days(tmp_path) -> None:
    assert load_settings({"CIRM_DATA_DIR": str(tmp_path)}).model_selection_days == 7
    assert load_settings({"CIRM_MODEL_SELECTION_DAYS": " 0 "}).model_selection_days == 0
    assert load_settings({"CIRM_MODEL_SELECTION_DAYS": "30"}).model_selection_days == 30
    for bad in ("-1", "1.5", "weekly"):
        with pytest.raises(SettingsError, match=rf"CIRM_MODEL_SELECTION_DAYS='{bad}' is not a number of days"):
            load_settings({"CIRM_MODEL_SELECTION_DAYS": bad})


def test_passwords_never_reach_logs() -> None:
    assert redact_url("postgresql://app:s3cret@db:5432/cases") == "postgresql://app:***@db:5432/cases"
    assert redact_url("postgresql://app@db/cases") == "postgresql://app@db/cases"
    assert redact_url(None) == "none"
