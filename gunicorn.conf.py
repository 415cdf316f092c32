"""gunicorn settings for the Tasks service, production-ready as they are.

Every value comes from the environment, with a default that suits a small container.
Run: gunicorn -c gunicorn.conf.py service.wsgi:app
"""

import os

# Where to listen: HOST (default all interfaces) and PORT (default 8000), or BIND to override.
_host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - a container listens on all interfaces
bind = os.environ.get("BIND") or f"{_host}:{os.environ.get('PORT', '8000')}"

# Worker processes: WEB_CONCURRENCY (the Heroku/Render convention), default 2 per core.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))

# gthread: each worker serves THREADS requests at once while they wait on PostgreSQL, and
# keeps client connections alive between requests (sync workers close every connection).
# Measured choice; see bench/RESULTS.md.
worker_class = os.environ.get("WORKER_CLASS", "gthread")
threads = int(os.environ.get("THREADS", "8"))

# One pooled database connection per thread unless set otherwise, so no request waits for one.
os.environ.setdefault("POOL_MAX_SIZE", str(threads))

# Room for 1000+ simultaneous connections (capped by net.core.somaxconn).
backlog = int(os.environ.get("BACKLOG", "2048"))
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
keepalive = int(os.environ.get("KEEPALIVE", "5"))

# A worker silent this long is killed and replaced; on SIGTERM, in-flight requests get
# GRACEFUL_TIMEOUT seconds to finish before the workers are stopped.
timeout = int(os.environ.get("TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "30"))

# Recycle workers now and then to bound slow leaks in any library (jitter avoids a herd).
max_requests = int(os.environ.get("MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("MAX_REQUESTS_JITTER", "0"))

# Access log to stdout (ACCESS_LOG=- default; empty to disable), error log to stderr.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
access_log_format = (
    '{"remote":"%(h)s","request":"%(r)s","status":%(s)s,"bytes":"%(B)s",'
    '"duration_us":%(D)s,"request_id":"%({x-request-id}o)s","user_agent":"%(a)s"}'
)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

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
    from service.config import Config
    from service.runtime import check_schema

    check_schema(Config.from_env())


def post_worker_init(worker):
    """Open this worker's connection pool (after fork, never before)."""
    from service import wsgi

    wsgi.runtime.start()


def worker_exit(server, worker):
    """Close this worker's pool so PostgreSQL sees clean disconnects."""
    from service import wsgi

    wsgi.runtime.stop()
