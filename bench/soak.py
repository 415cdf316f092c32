"""Soak: a bounded, modest, steady load; sample every worker's memory; report any growth.

usage: DATABASE_URL=postgresql://... .venv/bin/python bench/soak.py [OUTFILE]
env:  PORT (8152), SECONDS (300), WARMUP (60), CONCURRENCY (4), RATE (150 req/s in all),
      SAMPLE_EVERY (10 s); any gunicorn setting (WEB_CONCURRENCY, THREADS, ...) passes through.

Starts gunicorn with the gunicorn.conf.py that ships on 127.0.0.1:PORT (loopback only), creates
20 users x 20 tasks, then CONCURRENCY client threads send the perf kit's mixed workload
(60% get one, 20% list, 10% toggle, 10% create) paced to RATE for SECONDS. Every SAMPLE_EVERY
seconds it reads each worker's VmRSS and VmHWM from /proc. Writes OUTFILE (default
bench/out/soak-<time>.json) with every sample and a summary per worker: RSS when the warm-up
ends and at the end, the growth between them and the least-squares slope (kB/min) over the
samples after the warm-up; plus requests, errors and the achieved rate. Prints the summary.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("PORT", "8152"))
SECONDS = int(os.environ.get("SECONDS", "300"))
WARMUP = int(os.environ.get("WARMUP", "60"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "4"))
RATE = float(os.environ.get("RATE", "150"))
SAMPLE_EVERY = int(os.environ.get("SAMPLE_EVERY", "10"))


def memory_kb(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM of a process in kB."""
    out = {}
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = row.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def workers_of(master: int) -> list[int]:
    """Return the pids of the gunicorn master's workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def slope_kb_per_min(points: list[tuple[float, int]]) -> float:
    """Return the least-squares slope of (seconds, kB) points, in kB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return round(cov / var * 60, 1) if var else 0.0


class Client(threading.Thread):
    """One keep-alive client sending the mixed workload at its share of RATE."""

    def __init__(self, index: int, tasks: list[str], users: list[str], stop: threading.Event):
        super().__init__(daemon=True)
        self.index, self.tasks, self.users, self.stop = index, tasks, users, stop
        self.requests = self.errors = 0
        self.random = random.Random(index)  # noqa: S311 - load mix, not security

    def call(self, conn: http.client.HTTPConnection, method: str, path: str, body=None):
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        self.requests += 1
        if resp.status >= 400:
            self.errors += 1

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        interval = CONCURRENCY / RATE
        next_at = time.monotonic()
        while not self.stop.is_set():
            x = self.random.randrange(100)
            try:
                if x < 60:
                    self.call(conn, "GET", self.random.choice(self.tasks))
                elif x < 80:
                    self.call(conn, "GET", f"/api/{self.random.choice(self.users)}/tasks")
                elif x < 90:
                    self.call(conn, "PATCH", self.random.choice(self.tasks) + "/complete")
                else:
                    body = b'{"title": "soak task", "description": "created by bench/soak.py"}'
                    self.call(conn, "POST", f"/api/soak-writer-{self.index}/tasks", body)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        conn.close()


def seed() -> tuple[list[str], list[str]]:
    """Create 20 users x 20 tasks; return task paths and user ids."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    users = [f"soak-{int(time.time())}-{i}" for i in range(20)]
    tasks = []
    for user in users:
        for j in range(20):
            body = json.dumps({"title": f"task {j}", "tags": ["soak"]})
            conn.request("POST", f"/api/{user}/tasks", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            tasks.append(f"/api/{user}/tasks/{json.loads(resp.read())['id']}")
    conn.close()
    return tasks, users


def main() -> None:
    """Run the soak and write the figures."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outfile = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / f"bench/out/soak-{stamp}.json")
    outfile.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BIND=f"127.0.0.1:{PORT}")
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the access log is written, then dropped
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/livez", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        tasks, users = seed()
        stop = threading.Event()
        clients = [Client(i, tasks, users, stop) for i in range(CONCURRENCY)]
        for client in clients:
            client.start()
        started = time.monotonic()
        samples = []
        while (elapsed := time.monotonic() - started) < SECONDS:
            for pid in workers_of(server.pid):
                samples.append({"t": round(elapsed, 1), "pid": pid, **memory_kb(pid)})
            time.sleep(SAMPLE_EVERY)
        stop.set()
        for client in clients:
            client.join()
        elapsed = time.monotonic() - started
        for pid in workers_of(server.pid):
            samples.append({"t": round(elapsed, 1), "pid": pid, **memory_kb(pid)})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    requests = sum(c.requests for c in clients)
    summary = {
        "seconds": round(elapsed),
        "warmup_s": WARMUP,
        "concurrency": CONCURRENCY,
        "target_rate": RATE,
        "achieved_rate": round(requests / elapsed, 1),
        "requests": requests,
        "errors": sum(c.errors for c in clients),
        "workers": {},
    }
    for pid in sorted({s["pid"] for s in samples}):
        mine = [s for s in samples if s["pid"] == pid]
        after = [s for s in mine if s["t"] >= WARMUP] or mine
        summary["workers"][pid] = {
            "rss_kb_after_warmup": after[0]["VmRSS"],
            "rss_kb_end": mine[-1]["VmRSS"],
            "growth_kb": mine[-1]["VmRSS"] - after[0]["VmRSS"],
            "slope_kb_per_min": slope_kb_per_min([(s["t"], s["VmRSS"]) for s in after]),
            "peak_rss_kb": max(s["VmHWM"] for s in mine),
        }
    outfile.write_text(json.dumps({"summary": summary, "samples": samples}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"written to {outfile}")


if __name__ == "__main__":
    main()
