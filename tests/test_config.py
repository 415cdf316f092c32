"""Config from the environment: defaults, parsing and clear errors."""

from __future__ import annotations

import pytest

from service.core.config import Config, ConfigError


def test_defaults():
    config = Config.from_env({"DATABASE_URL": "postgresql://x/y"}, dotenv_path=None)
    assert config.pool_max_size == 8
    assert config.pool_timeout == 2.0
    assert config.cors_allow_origins == ("*",)
    assert config.prepare_threshold == 5


def test_database_url_is_required():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Config.from_env({}, dotenv_path=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POOL_MAX_SIZE", "0"),
        ("POOL_MAX_SIZE", "many"),
        ("POOL_TIMEOUT", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("POOL_CHECK", "maybe"),
        ("DB_BREAKER_OPEN_MS", "-1"),
        ("DB_BREAKER_PROBE_MS", "0"),
    ],
)
def test_bad_values_fail_with_the_setting_named(name, value):
    with pytest.raises(ConfigError, match=name):
        Config.from_env({"DATABASE_URL": "postgresql://x/y", name: value}, dotenv_path=None)


def test_dotenv_fills_unset_values_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://from-file/db\nPOOL_MAX_SIZE=3\n")
    config = Config.from_env({"POOL_MAX_SIZE": "4"}, dotenv_path=env_file)
    assert config.database_url == "postgresql://from-file/db"
    assert config.pool_max_size == 4


def test_cors_origins_and_prepare_threshold():
    config = Config.from_env(
        {
            "DATABASE_URL": "postgresql://x/y",
            "CORS_ALLOW_ORIGINS": "https://a.example, https://b.example",
            "PG_PREPARE_THRESHOLD": "none",
        },
        dotenv_path=None,
    )
    assert config.cors_allow_origins == ("https://a.example", "https://b.example")
    assert config.prepare_threshold is None


def test_circuit_breaker_settings_and_zero_turns_it_off():
    from service.data.pool import create_pool
    from service.data.queries import Queries

    env = {"DATABASE_URL": "postgresql://x/y"}
    config = Config.from_env(env, dotenv_path=None)
    assert (config.db_breaker_open_ms, config.db_breaker_probe_ms) == (1000, 1000)
    config = Config.from_env(
        {**env, "DB_BREAKER_OPEN_MS": "0", "DB_BREAKER_PROBE_MS": "250"}, dotenv_path=None
    )
    breaker = create_pool(config, Queries.load()).breaker  # built closed: no I/O
    assert (breaker.open_seconds, breaker.probe_seconds) == (0, 0.25)


def test_public_url_defaults_to_the_local_port_and_loses_a_trailing_slash():
    def public_url(**env: str) -> str:
        return Config.from_env({"DATABASE_URL": "postgresql://x/y", **env}, None).public_url

    assert public_url() == "http://localhost:8000"
    assert public_url(PORT="8001") == "http://localhost:8001"
    assert public_url(PUBLIC_URL="https://tasks.example.com/") == "https://tasks.example.com"
    assert public_url(PUBLIC_URL="https://example.com/tasks/") == "https://example.com/tasks"


@pytest.mark.parametrize(
    "value",
    ["tasks.example.com", "ftp://tasks.example.com", "https://", "https://u:p@h", "https://h/?a=1"],
)
def test_a_public_url_that_is_no_http_base_url_fails_naming_it(value):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        Config.from_env({"DATABASE_URL": "postgresql://x/y", "PUBLIC_URL": value}, None)
