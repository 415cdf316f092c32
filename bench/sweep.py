"""A/B runs of server settings that hold up on a noisy machine: CPU per request, not only req/s.

usage: DATABASE_URL=postgresql://... .venv/bin/python bench/sweep.py OUTFILE 'VAR=v ...' ...
  e.g. bench/sweep.py /tmp/sweep.jsonl 'WEB_CONCURRENCY=4 THREADS=8' 'WEB_CONCURRENCY=2 THREADS=4'

For each setting (ROUNDS times, interleaved A B A B), start gunicorn with the shipped
gunicorn.conf.py plus the setting on 127.0.0.1:PORT, run the perf kit's wrk workloads at CONNS
connections, and record per workload: req/s, p99, errors, and the CPU the server's processes
(gunicorn master and workers) and its PostgreSQL backends spent per request. Req/s and p99
swing with whatever else runs on the machine; CPU per request mostly does not, so it is the
figure to compare settings by. Also records each worker's peak RSS (VmHWM).

env: KIT (required: the perf kit's folder), PORT (8151), WORKLOADS (get,mixed), DURATION (5),
     CONNS (64), ROUNDS (1), SEED_USERS/SEED_TASKS (40/25).
     Loopback only; the database must be migrated.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
KIT = Path(os.environ.get("KIT", ""))
PORT = int(os.environ.get("PORT", "8151"))
BASE = f"http://127.0.0.1:{PORT}"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """Return user+system CPU seconds of each live pid."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def children(pid: int) -> list[int]:
    """Return the pids of a process's children."""
    pgrep = shutil.which("pgrep") or "pgrep"
    found = subprocess.run([pgrep, "-P", str(pid)], capture_output=True, text=True).stdout  # noqa: S603
    return [int(p) for p in found.split()]


def backend_pids(database_url: str) -> list[int]:
    """Return the pids of the service's PostgreSQL backends (same host only)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'tasks-service'"
        ).fetchall()
    return [row[0] for row in rows]


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """Return the CPU seconds spent between two samples (processes new since count fully)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def wrk(mode: str, data_dir: str, conns: int, duration: int) -> dict:
    """Run the kit's wrk script once and return its WRKJSON result."""
    cmd = [
        shutil.which("wrk") or "wrk",
        "-t",
        "2",
        "-c",
        str(conns),
        "-d",
        f"{duration}s",
        "--timeout",
        "5s",
    ]
    cmd += ["-s", str(KIT / "lua" / "bench.lua"), BASE, "--", mode, data_dir]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)  # noqa: S603
    out = out.stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON ") :])
    raise RuntimeError(f"wrk gave no result: {out[-500:]}")


def start(setting: str, log: Path) -> subprocess.Popen:
    """Start gunicorn with the setting and wait until it answers."""
    env = dict(os.environ, BIND=f"127.0.0.1:{PORT}")
    env.update(dict(item.split("=", 1) for item in shlex.split(setting)))
    # GUNICORN_CONF=path in a setting: another config file (e.g. one that imports ours and
    # changes one thing, for an experiment).
    conf = env.pop("GUNICORN_CONF", "gunicorn.conf.py")
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn, arguments from the command line
        [str(ROOT / ".venv/bin/gunicorn"), "-c", conf, "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the access log: written, as in production, then dropped
        stderr=log.open("w"),
        start_new_session=True,
    )
    for _ in range(150):
        try:
            with urllib.request.urlopen(f"{BASE}/livez", timeout=1):  # noqa: S310 - loopback
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"server did not start; see {log}")


def stop(server: subprocess.Popen) -> None:
    """Stop gunicorn and wait for it."""
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def seed(work: Path) -> str:
    """Create the tasks the workloads use (the kit's seeding) and return its data dir."""
    prefix = f"s{int(time.time())}"
    env = dict(os.environ, WORKLOADS="", WARMUP="0", SEED_PREFIX=prefix, DATA_ROOT=str(work))
    env.setdefault("SEED_USERS", "40")
    env.setdefault("SEED_TASKS", "25")
    subprocess.run(  # noqa: S603 - the perf kit's own script
        [str(KIT / "run.sh"), BASE, str(work / "seed.jsonl")], env=env, check=True, timeout=600
    )
    return str(work / f"bench-data-{prefix}")


def main() -> None:
    """Run every setting, print a table, append JSON lines to OUTFILE."""
    if not (KIT / "run.sh").is_file():
        sys.exit("KIT must name the perf kit's folder (the one holding run.sh and lua/)")
    outfile, settings = sys.argv[1], sys.argv[2:]
    database_url = os.environ["DATABASE_URL"]
    workloads = os.environ.get("WORKLOADS", "get,mixed").split(",")
    duration = int(os.environ.get("DURATION", "5"))
    conns = int(os.environ.get("CONNS", "64"))
    rounds = int(os.environ.get("ROUNDS", "1"))
    work = Path(tempfile.mkdtemp(prefix="tasks-sweep-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    data_dir = None
    with open(outfile, "a") as out:
        for _ in range(rounds):
            for setting in settings:
                server = start(setting, work / "server.log")
                try:
                    data_dir = data_dir or seed(work)
                    wrk("get", data_dir, conns, 2)  # warm-up: pools, prepared statements
                    for workload in workloads:
                        pids = [server.pid, *children(server.pid)]
                        backends = backend_pids(database_url)
                        load = os.getloadavg()[0]
                        app0, db0 = cpu_seconds(pids), cpu_seconds(backends)
                        result = wrk(workload, data_dir, conns, duration)
                        app1 = cpu_seconds(pids)
                        db1 = cpu_seconds(list(set(backends) | set(backend_pids(database_url))))
                        n = max(result["requests"], 1)
                        line = {
                            "setting": setting,
                            "workload": workload,
                            "conns": conns,
                            "rps": result["rps"],
                            "p99_ms": result["lat_p99_ms"],
                            "errors": result["non2xx"]
                            + sum(result[k] for k in result if k.startswith("err_")),
                            "app_cpu_us_per_req": round(spent(app0, app1) / n * 1e6),
                            "db_cpu_us_per_req": round(spent(db0, db1) / n * 1e6),
                            "loadavg_1m": round(load, 2),
                        }
                        workers = children(server.pid)
                        line["worker_vmhwm_kb"] = [
                            int(row.split()[1])
                            for pid in workers
                            for row in Path(f"/proc/{pid}/status").read_text().splitlines()
                            if row.startswith("VmHWM")
                        ]
                        out.write(json.dumps(line) + "\n")
                        out.flush()
                        print(
                            f"{setting:<46} {workload:<7} {line['rps']:>7.0f} req/s  p99 "
                            f"{line['p99_ms']:>6.1f} ms  err {line['errors']:<4} "
                            f"app {line['app_cpu_us_per_req']:>5} us/req  "
                            f"db {line['db_cpu_us_per_req']:>4} us/req  load {load:.1f}",
                            flush=True,
                        )
                finally:
                    stop(server)


if __name__ == "__main__":
    main()
