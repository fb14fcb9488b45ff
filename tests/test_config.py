"""Settings: defaults, SHELF_* environment, explicit overrides, unknown keys rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from shelf.config import Settings, load_settings
from shelf.errors import ConfigError


def test_defaults() -> None:
    settings = Settings()
    assert settings.data_dir == Path("shelf-data")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.db_url is None
    assert settings.store_url == f"sqlite:///{Path('shelf-data/shelf.db').resolve()}"
    assert settings.key_path == Path("shelf-data/pseudonym.key")


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHELF_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHELF_PORT", "8123")
    monkeypatch.setenv("SHELF_HOST", "0.0.0.0")
    monkeypatch.setenv("SHELF_DB_URL", "postgresql+psycopg://u@db/shop")
    settings = Settings()
    assert (settings.data_dir, settings.port, settings.host) == (tmp_path, 8123, "0.0.0.0")
    assert settings.store_url == "postgresql+psycopg://u@db/shop"
    assert settings.key_path == tmp_path / "pseudonym.key"


def test_overrides_win_over_environment_and_none_is_no_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHELF_PORT", "8123")
    assert load_settings(port=9000).port == 9000
    assert load_settings(port=None, host=None).port == 8123


def test_empty_db_url_means_default_sqlite(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, db_url="")
    assert settings.db_url is None
    assert settings.store_url == f"sqlite:///{(tmp_path / 'shelf.db').resolve()}"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"data_dri": "x"}, "data_dri"),  # a typo is an error, not a silently ignored key
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"db_url": "mysql://u@h/db"}, "db_url"),
        ({"import_batch_size": 0}, "import_batch_size"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
    ],
)
def test_invalid_settings_are_rejected(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert f"SHELF_{field.upper()} ({field}):" in str(caught.value)
    assert str(caught.value).count("SHELF_") == 1


def test_invalid_environment_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELF_PORT", "eighty")
    with pytest.raises(PydanticValidationError, match="port"):
        Settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(PydanticValidationError):
        Settings().port = 1  # type: ignore[misc]


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


def test_search_encodes_beside_only_while_a_core_is_free(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("shelf.config.os.cpu_count", lambda: 2)
    assert Settings(data_dir=tmp_path, workers=1).encode_in_parallel
    assert not Settings(data_dir=tmp_path, workers=2).encode_in_parallel
    assert Settings(data_dir=tmp_path, workers=2, search_encode_in_parallel=True).encode_in_parallel
    assert not Settings(data_dir=tmp_path, search_encode_in_parallel=False).encode_in_parallel
    # unset stays unset in the workers' environment: each decides from SHELF_WORKERS
    env = Settings(data_dir=tmp_path, workers=2).as_environment()
    assert "SHELF_SEARCH_ENCODE_IN_PARALLEL" not in env and env["SHELF_WORKERS"] == "2"
