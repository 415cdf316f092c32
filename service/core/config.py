"""Configuration: one immutable Config, read from the environment (and a .env file)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"

# Fixed by the API contract, not by deployments.
MAX_BODY_BYTES = 65_536

# Where `make run` serves: the public URL when PUBLIC_URL is unset (and PORT too).
DEFAULT_PUBLIC_URL = "http://localhost:8000"

# RFC 7518 3.2: an HS256 key must be at least as long as the hash output (256 bits).
MIN_JWT_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048


class ConfigError(ValueError):
    """A setting is missing or malformed."""


# RATE_LIMIT's units, in seconds; "120/minute" and "120/minutes" both read.
RATE_LIMIT_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400}
DEFAULT_RATE_LIMIT = "6000/minute"
_RATE_LIMIT = re.compile(r"\s*(\d{1,9})\s*/\s*([a-z]+?)s?\s*")


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: `quota` requests, refilled evenly over `window_seconds`."""

    quota: int
    window_seconds: int

    @classmethod
    def parse(cls, raw: str) -> RateLimit | None:
        """Read `<count>/<second|minute|hour|day>`; "0" (or "off") means no limit (None)."""
        text = raw.strip().lower()
        if text in {"0", "off"}:
            return None
        match = _RATE_LIMIT.fullmatch(text)
        unit = RATE_LIMIT_UNITS.get(match.group(2)) if match else None
        if match is None or unit is None or int(match.group(1)) == 0:
            raise ConfigError(
                "RATE_LIMIT must be <count>/<second|minute|hour|day> (e.g. 120/minute) "
                f"or 0 to turn it off, got {raw!r}"
            )
        return cls(quota=int(match.group(1)), window_seconds=unit)


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
    """Every setting of the service; see the configuration table in docs/operations.md."""

    database_url: str
    pool_min_size: int = 2
    pool_max_size: int = 8
    pool_timeout: float = 2.0
    pool_check: bool = True
    pool_check_idle_ms: int = 1000
    connect_timeout: int = 3
    statement_timeout_ms: int = 2000
    db_deadline_ms: int = 4000
    db_breaker_open_ms: int = 1000
    db_breaker_probe_ms: int = 1000
    transaction_pooling: bool = False
    prepare_threshold: int | None = 5
    cors_allow_origins: tuple[str, ...] = ("*",)
    trust_forwarded_headers: bool = False
    log_level: str = "INFO"
    retry_after_seconds: int = 1
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = None
    jwt_algorithm: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 0
    # Kept out of repr, so a logged Config never shows it.
    cursor_secret: str | None = field(default=None, repr=False)
    # Webhooks to plain http and to loopback or private addresses: development and tests only.
    webhook_allow_insecure: bool = False
    # The background worker (service/worker.py): deliveries sent at once, and how often it
    # looks for work when the last look found none.
    worker_concurrency: int = 8
    worker_poll_seconds: float = 0.25
    # The scheme, host (and any path prefix) clients reach the service by, for absolute URLs
    # made outside a request: the task `url` in a reminder.fired event (the worker). A
    # request's own URLs follow its Host (and trusted forwarding headers) instead.
    public_url: str = DEFAULT_PUBLIC_URL
    # Days a batch stays in the trash before the worker purges it for good.
    trash_retention_days: int = 30
    # None: no rate limiting (RATE_LIMIT=0).
    rate_limit: RateLimit | None = RateLimit(quota=6000, window_seconds=60)
    # The URL may carry a password: kept out of repr.
    redis_url: str | None = field(default=None, repr=False)
    rate_limit_redis_timeout_ms: int = 100
    rate_limit_redis_retry_ms: int = 1000
    rate_limit_redis_prefix: str = "tasks:ratelimit:"

    @property
    def jwt_enabled(self) -> bool:
        """Tell whether /api/ requests need a bearer token (a JWT key is configured)."""
        return self.jwt_algorithm is not None

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
            raise ConfigError(
                "DATABASE_URL is not set: give the database as "
                "postgresql://user:password@host:5432/dbname (the make targets use the embedded "
                "development database when it is unset)"
            )
        if not database_url.startswith(("postgresql://", "postgres://")):
            # The value may hold a password: name the form expected, never echo it.
            raise ConfigError(
                "DATABASE_URL must be a URL of the form postgresql://user:password@host:5432/dbname"
            )
        # gunicorn reads WEB_CONCURRENCY when it is imported and fails with a traceback on a
        # bad one; checked here, `make run` (which migrates first) says it in one line.
        _int(env, "WEB_CONCURRENCY", 1, minimum=1)
        pool_max = _int(env, "POOL_MAX_SIZE", 8, minimum=1)
        pool_min = _int(env, "POOL_MIN_SIZE", min(2, pool_max), minimum=0)
        if pool_min > pool_max:
            raise ConfigError("POOL_MIN_SIZE must not exceed POOL_MAX_SIZE")
        transaction_pooling = _bool(env, "PG_TRANSACTION_POOLING", False)
        # PgBouncer < 1.21 cannot keep prepared statements across transactions.
        prepare = env.get("PG_PREPARE_THRESHOLD", "none" if transaction_pooling else "5")
        prepare = prepare.strip().lower()
        origins = tuple(
            o.strip() for o in env.get("CORS_ALLOW_ORIGINS", "*").split(",") if o.strip()
        )
        log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(f"LOG_LEVEL must be a logging level name, got {log_level!r}")
        cursor_secret = env.get("CURSOR_SECRET", "").strip() or None
        if cursor_secret is not None and len(cursor_secret) < 16:
            raise ConfigError("CURSOR_SECRET must be at least 16 characters")
        return cls(
            database_url=database_url,
            pool_min_size=pool_min,
            pool_max_size=pool_max,
            pool_timeout=_float(env, "POOL_TIMEOUT", 2.0),
            pool_check=_bool(env, "POOL_CHECK", True),
            pool_check_idle_ms=_int(env, "POOL_CHECK_IDLE_MS", 1000, minimum=0),
            connect_timeout=_int(env, "PG_CONNECT_TIMEOUT", 3, minimum=1),
            statement_timeout_ms=_int(env, "PG_STATEMENT_TIMEOUT_MS", 2000, minimum=0),
            db_deadline_ms=_int(env, "DB_DEADLINE_MS", 4000, minimum=100),
            db_breaker_open_ms=_int(env, "DB_BREAKER_OPEN_MS", 1000, minimum=0),
            db_breaker_probe_ms=_int(env, "DB_BREAKER_PROBE_MS", 1000, minimum=10),
            transaction_pooling=transaction_pooling,
            prepare_threshold=None
            if prepare in {"", "none", "off"}
            else _int(env, "PG_PREPARE_THRESHOLD", 5),
            cors_allow_origins=origins or ("*",),
            trust_forwarded_headers=_bool(env, "TRUST_FORWARDED_HEADERS", False),
            log_level=log_level,
            retry_after_seconds=_int(env, "RETRY_AFTER_SECONDS", 1, minimum=1),
            **_jwt_settings(env),
            cursor_secret=cursor_secret,
            webhook_allow_insecure=_bool(env, "WEBHOOK_ALLOW_INSECURE", False),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 8, minimum=1),
            worker_poll_seconds=_float(env, "WORKER_POLL_SECONDS", 0.25),
            public_url=_public_url(env),
            trash_retention_days=_int(env, "TRASH_RETENTION_DAYS", 30, minimum=1),
            rate_limit=RateLimit.parse(env.get("RATE_LIMIT", "") or DEFAULT_RATE_LIMIT),
            redis_url=env.get("REDIS_URL", "").strip() or None,
            rate_limit_redis_timeout_ms=_int(env, "RATE_LIMIT_REDIS_TIMEOUT_MS", 100, minimum=1),
            rate_limit_redis_retry_ms=_int(env, "RATE_LIMIT_REDIS_RETRY_MS", 1000, minimum=0),
            rate_limit_redis_prefix=env.get("RATE_LIMIT_REDIS_PREFIX", "").strip()
            or "tasks:ratelimit:",
        )


def load_config_or_exit(environ: Mapping[str, str] | None = None) -> Config:
    """Read the config, or end the process with one line naming the setting at fault.

    A command-line entry point calls this instead of `Config.from_env`, so that a bad
    setting is a one-line message and a non-zero exit rather than a traceback.
    """
    try:
        return Config.from_env(environ)
    except ConfigError as error:
        raise SystemExit(f"configuration error: {error}") from None


def _public_url(env: Mapping[str, str]) -> str:
    """Read PUBLIC_URL (no trailing slash); unset: http://localhost:<PORT>, as `make run` serves."""
    raw = env.get("PUBLIC_URL", "").strip()
    if not raw:
        port = env.get("PORT", "").strip()
        return f"http://localhost:{port}" if port.isdigit() else DEFAULT_PUBLIC_URL
    parts = urlsplit(raw)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            "PUBLIC_URL must be the http(s) URL clients reach the service by, such as "
            "https://tasks.example.com (no credentials, query or fragment)"
        )
    return raw.rstrip("/")


def _jwt_settings(env: Mapping[str, str]) -> dict[str, object]:
    """Read the JWT settings; a key that cannot verify tokens fails start-up, saying why."""
    secret = env.get("JWT_SECRET") or None
    public_key = _pem(env.get("JWT_PUBLIC_KEY", "").strip()) or None
    if secret and public_key:
        raise ConfigError("set JWT_SECRET (HS256) or JWT_PUBLIC_KEY, not both")
    algorithm = None
    if secret:
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        algorithm = "HS256"
    elif public_key:
        algorithm = public_key_algorithm(public_key)
    return {
        "jwt_secret": secret,
        "jwt_public_key": public_key,
        "jwt_algorithm": algorithm,
        "jwt_issuer": env.get("JWT_ISSUER", "").strip() or None,
        "jwt_audience": env.get("JWT_AUDIENCE", "").strip() or None,
        "jwt_leeway_seconds": _int(env, "JWT_LEEWAY_SECONDS", 0, minimum=0),
    }


def _pem(value: str) -> str:
    # A PEM in one env line often carries literal \n; a value that is no PEM names a file.
    if not value:
        return value
    if "-----BEGIN" not in value:
        path = Path(value)
        if not path.is_file():
            raise ConfigError("JWT_PUBLIC_KEY must be a PEM public key or the path of one")
        value = path.read_text(encoding="utf-8")
    return value.replace("\\n", "\n").strip() + "\n"


def public_key_algorithm(pem: str) -> str:
    """Return the one JWT algorithm a PEM public key verifies: RS256, ES256 or EdDSA."""
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError:
        raise ConfigError("JWT_PUBLIC_KEY is not a readable PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            raise ConfigError(f"JWT_PUBLIC_KEY: an RSA key needs {MIN_RSA_KEY_BITS}+ bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    raise ConfigError("JWT_PUBLIC_KEY must be an RSA, P-256 (ES256) or Ed25519 (EdDSA) key")
