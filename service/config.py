"""Configuration: one immutable Config, read from the environment (and a .env file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

# Fixed by the API contract, not by deployments.
MAX_BODY_BYTES = 65_536


class ConfigError(ValueError):
    """A setting is missing or malformed."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Config:
    """Every setting of the service; see the README's configuration table."""

    database_url: str
    pool_min_size: int = 2
    pool_max_size: int = 8
    pool_timeout: float = 2.0
    pool_check: bool = True
    pool_check_idle_ms: int = 1000
    connect_timeout: int = 3
    statement_timeout_ms: int = 2000
    prepare_threshold: int | None = 5
    cors_allow_origins: tuple[str, ...] = ("*",)
    trust_forwarded_headers: bool = False
    log_level: str = "INFO"
    retry_after_seconds: int = 1

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: Path | str | None = ".env"
    ) -> Config:
        """Build the config from environment variables; a .env file fills in what is unset."""
        env: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        env.update(os.environ if environ is None else environ)

        database_url = env.get("DATABASE_URL", "").strip()
        if not database_url:
            raise ConfigError("DATABASE_URL is not set")
        pool_max = _int(env, "POOL_MAX_SIZE", 8, minimum=1)
        pool_min = _int(env, "POOL_MIN_SIZE", min(2, pool_max), minimum=0)
        if pool_min > pool_max:
            raise ConfigError("POOL_MIN_SIZE must not exceed POOL_MAX_SIZE")
        prepare = env.get("PG_PREPARE_THRESHOLD", "5").strip().lower()
        origins = tuple(
            o.strip() for o in env.get("CORS_ALLOW_ORIGINS", "*").split(",") if o.strip()
        )
        log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(f"LOG_LEVEL must be a logging level name, got {log_level!r}")
        return cls(
            database_url=database_url,
            pool_min_size=pool_min,
            pool_max_size=pool_max,
            pool_timeout=_float(env, "POOL_TIMEOUT", 2.0),
            pool_check=_bool(env, "POOL_CHECK", True),
            pool_check_idle_ms=_int(env, "POOL_CHECK_IDLE_MS", 1000, minimum=0),
            connect_timeout=_int(env, "PG_CONNECT_TIMEOUT", 3, minimum=1),
            statement_timeout_ms=_int(env, "PG_STATEMENT_TIMEOUT_MS", 2000, minimum=0),
            prepare_threshold=None
            if prepare in {"", "none", "off"}
            else _int(env, "PG_PREPARE_THRESHOLD", 5),
            cors_allow_origins=origins or ("*",),
            trust_forwarded_headers=_bool(env, "TRUST_FORWARDED_HEADERS", False),
            log_level=log_level,
            retry_after_seconds=_int(env, "RETRY_AFTER_SECONDS", 1, minimum=1),
        )
