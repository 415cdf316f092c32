"""gunicorn settings for the Tasks service, production-ready as they are.

Every value comes from the environment, with a default that suits a small container.
Run: gunicorn -c gunicorn.conf.py service.wsgi:app
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path


def _env_int(name, default, minimum=0):
    """Read an integer setting; a bad one ends start-up with one line naming it."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(
            f"configuration error: {name} must be an integer, got {raw[:40]!r}"
        ) from None
    if value < minimum:
        raise SystemExit(f"configuration error: {name} must be at least {minimum}, got {value}")
    return value


# Worker processes: WEB_CONCURRENCY (the Heroku/Render convention), default one per CPU this
# process may run on. Worker class (WORKER_CLASS), each measured on loopback (bench/RESULTS.md):
# - keepalive (default): service.server.keepalive_worker.KeepAliveWorker, one thread that keeps
#   connections alive and serves each request inline, with connections balanced across the
#   workers. With PostgreSQL answering in well under a millisecond it served 11-35 % more
#   requests per second than sync on 13-20 % less CPU each, and 1000 connections with p99
#   under 0.5 s; writes' p99 is longer (each worker has its own queue of connections).
#   It never waits on one client: a request runs once it has arrived whole (head within 5 s
#   of its first byte, body within 10 s of the head, else 408), so slow or stalled clients
#   cost a connection slot each, not the worker (docs/failure-handling.md).
# - sync: gunicorn's sync worker (service.server.sync_worker.SyncWorker: without its wait for
#   the client's FIN), which closes every connection after its request.
# - gthread (THREADS defaults to 4 then): overlaps requests that wait on PostgreSQL, which
#   pays off when the database is far away; it costs more CPU per request here.
# keepalive and sync serve one request at a time per worker, and a database further away wants
# more workers. sync waits on a slow client (keepalive does not): behind a buffering proxy, as
# any ingress is, either is fine; the proxy also limits connections per client.
workers = _env_int("WEB_CONCURRENCY", len(os.sched_getaffinity(0)), minimum=1)
worker_class = os.environ.get("WORKER_CLASS", "").strip() or "keepalive"
if worker_class not in {"keepalive", "sync", "gthread"} and "." not in worker_class:
    raise SystemExit(
        "configuration error: WORKER_CLASS must be keepalive, sync, gthread or a dotted class "
        f"path, got {worker_class[:40]!r}"
    )
# gunicorn itself switches a sync worker with THREADS > 1 to gthread.
threads = _env_int("THREADS", 4 if worker_class == "gthread" else 1, minimum=1)
if worker_class == "keepalive":
    worker_class = "service.server.keepalive_worker.KeepAliveWorker"
elif worker_class == "sync" and threads == 1:
    # gunicorn's sync worker, without its wait for the client to close after a request it
    # read whole (service/server/sync_worker.py; ~10 % more requests per second).
    worker_class = "service.server.sync_worker.SyncWorker"

# One pooled database connection per thread unless set otherwise, so no request waits for one.
os.environ.setdefault("POOL_MAX_SIZE", str(threads))

# Every setting of the service, checked now: a bad one ends start-up with one line naming it,
# before gunicorn logs anything (on_starting runs after its first log lines).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from service.core.config import load_config_or_exit  # noqa: E402 - needs the path above
from service.server.binding import default_bind  # noqa: E402

_config = load_config_or_exit()

# Where to listen: BIND (e.g. 0.0.0.0:8080), else HOST and PORT (default 8000). Without HOST,
# 127.0.0.1 while no authentication is configured (anyone reaching the port could act as any
# user), all interfaces once JWT is on. A container image sets HOST=0.0.0.0 explicitly.
bind = default_bind(os.environ, authenticated=_config.jwt_enabled)

# Room for 1000+ simultaneous connections (capped by net.core.somaxconn). A keepalive or
# gthread worker holds at most WORKER_CONNECTIONS, and closes one idle for KEEPALIVE seconds
# (0: no keep-alive). keepalive counts idleness from the last read or answer, never closes a
# connection whose client's bytes wait unread, and once full closes its longest-idle
# connections for clients waiting in the listen queue.
backlog = _env_int("BACKLOG", 2048, minimum=1)
worker_connections = _env_int("WORKER_CONNECTIONS", 1000, minimum=1)
keepalive = _env_int("KEEPALIVE", 5)

# A worker silent this long is killed and replaced (keepalive reports on every turn of its loop
# and between requests, so only a request stuck in the app this long gets it killed); on
# SIGTERM, in-flight requests get GRACEFUL_TIMEOUT seconds to finish before the workers stop.
timeout = _env_int("TIMEOUT", 30)
graceful_timeout = _env_int("GRACEFUL_TIMEOUT", 30)

# Recycle workers now and then to bound slow leaks in any library (jitter avoids a herd).
max_requests = _env_int("MAX_REQUESTS", 0)
max_requests_jitter = _env_int("MAX_REQUESTS_JITTER", 0)

# Logs are JSON lines, like the app's: gunicorn's error log (stderr) and access log (stdout,
# ACCESS_LOG=- by default; a path writes to that file; empty disables it) go through
# service.core.logs.JsonFormatter, and the access line carries method, path, status, duration_ms,
# request_id, remote and user_agent as fields (service.server.gunicorn_logs). Level: LOG_LEVEL.
_log_level = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
if _log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise SystemExit(
        f"configuration error: LOG_LEVEL must be a logging level name, got {_log_level[:40]!r}"
    )
loglevel = _log_level.lower()
logger_class = "service.server.gunicorn_logs.JsonLogger"
errorlog = "-"
accesslog = os.environ.get("ACCESS_LOG", "-") or None
if accesslog in (None, "-"):
    _access_handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
else:
    _access_handler = {"class": "logging.FileHandler", "filename": accesslog}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.core.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
        },
        "access": {**_access_handler, "formatter": "json"},
    },
    # The app's loggers propagate to root; the app's configure_logging() keeps this handler.
    "root": {"level": _log_level, "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": _log_level, "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["access"] if accesslog else [],
            "propagate": False,
        },
    },
}

# Prometheus multiprocess mode: every worker writes its metrics to files in this directory
# and /metrics merges them. It must exist before a worker imports prometheus-client, and it
# must hold the files of this master's workers only: unless PROMETHEUS_MULTIPROC_DIR names
# one, each master makes a fresh temporary directory and removes it on exit. (A reload
# re-reads this file with the variable set: the marker says the directory is still ours.)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tasks-metrics-")
    os.environ["TASKS_OWN_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
_metrics_dir_is_ours = (
    os.environ.get("TASKS_OWN_METRICS_DIR") == os.environ["PROMETHEUS_MULTIPROC_DIR"]
)

# Trust X-Forwarded-Proto etc. only from these proxy addresses (gunicorn's own setting).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket (for gunicornc) only when CONTROL_SOCKET names a path, so that
# several instances on one host never fight over the default one.
_control_socket = os.environ.get("CONTROL_SOCKET")
if _control_socket:
    control_socket = _control_socket
control_socket_disable = not _control_socket

# Load the app in each worker (after fork), so each opens its own pool.
preload_app = False


def on_starting(server):
    """Fail fast, before any worker starts, if the database is unreachable or behind."""
    from service.core.config import load_config_or_exit
    from service.server.binding import reachable_from_outside
    from service.server.bootstrap import StartupCheckFailed, check_schema
    from service.server.sync_worker import install_problem_errors

    # gunicorn's own refusals (malformed or oversized request line, oversized headers)
    # answer as application/problem+json with a request id, like the app's errors, on any
    # worker class (the workers, forked after this, inherit it).
    install_problem_errors()

    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if not _metrics_dir_is_ours:
        # A directory given to us may hold a previous run's files: their counters would be
        # added to ours and their live gauges would never go away.
        for stale in Path(metrics_dir).glob("*.db"):
            stale.unlink()
    server.log.info("metrics directory %s", metrics_dir, extra={"metrics_dir": metrics_dir})
    config = load_config_or_exit()
    exposed = [] if config.jwt_enabled else reachable_from_outside(server.cfg.bind)
    if exposed:
        server.log.warning(
            "authentication is off and the service listens on %s: any caller that can reach "
            "it can act as any user; set JWT_SECRET or JWT_PUBLIC_KEY, or let only a gateway "
            "that authenticates users reach it",
            ", ".join(exposed),
        )
    try:
        check_schema(config)
    except StartupCheckFailed as error:
        # One line saying what is wrong, not a traceback through gunicorn's arbiter.
        raise SystemExit(f"cannot start: {error}") from None


def post_worker_init(worker):
    """Open this worker's connection pool (after fork, never before)."""
    from service import wsgi

    wsgi.runtime.start()


def worker_exit(server, worker):
    """Close this worker's pool so PostgreSQL sees clean disconnects."""
    from service import wsgi

    wsgi.runtime.stop()


def child_exit(server, worker):
    """Drop the exited worker's live gauges (pool figures) and its count of connections."""
    from service.core.metrics import mark_worker_dead
    from service.server.keepalive_worker import forget_worker

    mark_worker_dead(worker.pid)
    forget_worker(worker)


def on_exit(server):
    """Remove the metrics directory this master made."""
    if _metrics_dir_is_ours:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
