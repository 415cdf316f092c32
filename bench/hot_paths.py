"""Measure the in-process CPU cost of the hot routes: get one, list 50, toggle, create.

usage: DATABASE_URL=postgresql://... .venv/bin/python -m bench.hot_paths [N] [--profile ROUTE]

The WSGI app is called directly (no HTTP, no gunicorn), single-threaded, with the
shipped middleware (metrics in multiprocess mode, request ids, deadline, CORS,
idempotency). Prints microseconds of wall time and of process CPU per request for each
route, best of three runs of N; the database round trip is in the wall time, not (mostly)
in the CPU. When PostgreSQL runs on this machine (its backends' /proc readable), also the
CPU its backends for this database spent per request (clock ticks: use N of 3000 or more).
ROUTES=create,toggle times only those. With --profile ROUTE, prints the top cProfile entries
of that route instead.
"""

from __future__ import annotations

import atexit
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid

import orjson
import psycopg

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tasks-bench-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from bench.sweep import cpu_seconds
from service.core.config import Config
from service.server.bootstrap import build


def _environ(method: str, path: str, body: bytes = b"") -> dict:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _call(app, method: str, path: str, body: bytes = b"") -> str:
    status = []
    chunks = app(_environ(method, path, body), lambda s, h, e=None: status.append(s))
    b"".join(chunks)
    return status[0]


def _backends_cpu(probe: psycopg.Connection) -> float | None:
    """Seconds of CPU the database's other backends have used so far (None: not readable)."""
    pids = probe.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    ).fetchall()
    used = cpu_seconds([pid for (pid,) in pids])
    if len(used) < len(pids):
        return None  # not on this machine (or a backend gone meanwhile)
    return sum(used.values())


def main() -> None:
    """Print the figures (or a profile)."""
    args = sys.argv[1:]
    profile = None
    if "--profile" in args:
        i = args.index("--profile")
        profile = args[i + 1]
        del args[i : i + 2]
    number = int(args[0]) if args else 1000
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "LOG_LEVEL": "WARNING", "POOL_MAX_SIZE": "1"}
    # One user makes every request here: past the default limit, the timed loops would
    # measure 429s. RATE_LIMIT=0 measures without the limiter.
    env["RATE_LIMIT"] = os.environ.get("RATE_LIMIT", "1000000/minute")
    runtime = build(Config.from_env(env, dotenv_path=None))
    runtime.pool.open(wait=True, timeout=10)
    app = runtime.app
    try:
        user = f"hot-{uuid.uuid4().hex[:8]}"
        body = orjson.dumps(
            {"title": "Buy milk", "description": "2 litres", "priority": "high", "tags": ["home"]}
        )
        ids = []
        for _ in range(50):
            out = app(_environ("POST", f"/api/{user}/tasks", body), lambda s, h, e=None: None)
            ids.append(orjson.loads(b"".join(out))["id"])
        routes = {
            "get": ("GET", f"/api/{user}/tasks/{ids[0]}", b""),
            "list": ("GET", f"/api/{user}/tasks", b""),
            "toggle": ("PATCH", f"/api/{user}/tasks/{ids[1]}/complete", b""),
            "create": ("POST", f"/api/{user}-c/tasks", body),
        }
        for method, path, data in routes.values():
            for _ in range(30):  # warm up: prepared statements, label children
                status = _call(app, method, path, data)
                assert status.startswith(("200", "201")), status
        if profile:
            method, path, data = routes[profile]
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(number):
                _call(app, method, path, data)
            prof.disable()
            if os.environ.get("PROFILE_OUT"):
                prof.dump_stats(os.environ["PROFILE_OUT"])
            pstats.Stats(prof).sort_stats(os.environ.get("SORT", "tottime")).print_stats(35)
            return
        probe = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
        only = os.environ.get("ROUTES", "").split(",") if os.environ.get("ROUTES") else routes
        for name, (method, path, data) in routes.items():
            if name not in only:
                continue
            best_wall = best_cpu = best_pg = float("inf")
            for _ in range(3):
                p0 = _backends_cpu(probe)
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(number):
                    status = _call(app, method, path, data)
                best_wall = min(best_wall, time.perf_counter() - w0)
                best_cpu = min(best_cpu, time.process_time() - c0)
                p1 = _backends_cpu(probe)
                if p0 is not None and p1 is not None:
                    best_pg = min(best_pg, p1 - p0)
                assert status.startswith(("200", "201")), status
            pg = "" if best_pg == float("inf") else f"   pg cpu {best_pg / number * 1e6:7.1f} us"
            print(
                f"{name:<7} wall {best_wall / number * 1e6:7.1f} us   "
                f"cpu {best_cpu / number * 1e6:7.1f} us{pg}"
            )
        probe.close()
    finally:
        runtime.stop()


if __name__ == "__main__":
    main()
