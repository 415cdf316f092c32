"""Soak: the mixed load with the background worker running; memory of every process, worker lag.

It answers issue 16's target: "a 5-minute soak of the mixed load with the worker running: no
memory growth after warm-up in any process, worker lag (reminders and deliveries) under 1 s
throughout".

usage: DATABASE_URL=postgresql://... .venv/bin/python bench/soak.py [OUTFILE]
       (the database migrated first: .venv/bin/python -m service.server.migrate apply)
env:  PORT (8152), SECONDS (300), WARMUP (60), CONCURRENCY (4), RATE (150 req/s in all),
      SAMPLE_EVERY (10 s, memory), METRICS_EVERY (1 s, GET /metrics), REMINDER_SHARE (0.5 of
      the creates), REMINDER_AHEAD (3 s), DRAIN (15 s at most), LAG_TARGET (1.0 s); any setting
      of gunicorn or the worker (WEB_CONCURRENCY, WORKER_POLL_SECONDS, ...) passes through.

What it runs, all on 127.0.0.1 (loopback only), and it stops by itself:
- a webhook receiver in this process (http.server on a free loopback port, one thread per
  connection) that answers 200 and records each request: its arrival time, the webhook-id,
  -timestamp and -signature headers, the signature checked with `standardwebhooks` against
  the webhook's secret, and the event's id, type, occurred_at (and, for reminder.fired, the
  reminder's fire_at) from the body;
- `python -m service.worker` and gunicorn (the gunicorn.conf.py that ships on PORT), started as
  `make run` starts them: one fresh PROMETHEUS_MULTIPROC_DIR for both (TASKS_OWN_METRICS_DIR
  too, so gunicorn removes it at exit), so GET /metrics shows the worker's metrics. Their
  environment, and only theirs, gets WEBHOOK_ALLOW_INSECURE=true (the documented setting that
  lets a webhook target plain http on loopback: development and tests only) and
  PUBLIC_URL=http://127.0.0.1:PORT. The worker's log (JSON lines on stderr) goes to a
  temporary file, read at the end for each reminder's own `lag_seconds` and any warnings.

Then it creates 20 users x 20 tasks and 4 writer users; every other one of each gets a
webhook to the receiver for task.created, task.completed, task.uncompleted and reminder.fired.
CONCURRENCY client threads send the perf kit's mixed load (60% get one, 20% list, 10% toggle
of seeded tasks, 10% create for the writers) paced to RATE for SECONDS. REMINDER_SHARE of the
creates carry one reminder falling due REMINDER_AHEAD seconds later, alternately absolute
(`{"at": ...}`) and relative (`due_at` one minute further, `{"before_due": 1}`), so reminders
keep falling due throughout and the worker fires them. Meanwhile:
- every SAMPLE_EVERY seconds: VmRSS and VmHWM of the gunicorn master, each gunicorn worker and
  the background worker (/proc);
- every METRICS_EVERY seconds: GET /metrics for `tasks_worker_queue_lag_seconds{queue}` and
  `tasks_worker_queue_depth{queue}` (gauges the worker itself refreshes every 5 s, so
  successive scrapes repeat values) and the `tasks_worker_reminder_lag_seconds` histogram.
When the load stops it waits up to DRAIN seconds for every delivery it expects (one per write
to a user with a webhook, one per reminder of such a user), then stops the worker and gunicorn
with SIGTERM.

Worker lag, two ways: (a) the service's own figures: the queue-lag gauges, the reminder-lag
histogram (its p99 and max are bucket upper bounds; "over target" counts the observations above
the bucket that holds LAG_TARGET) and each "reminder fired" log line's lag_seconds (from
fire_at to the firing round's database clock); (b) end to end at the receiver: for every
delivery, arrival minus the event's occurred_at (the database clock when the event's
transaction began), and for reminder.fired, arrival minus the reminder's fire_at. Each measure
gets max, p99 and whether every sample stayed under LAG_TARGET; a missing delivery counts as
over. Receiver and database share this machine's clock.

Memory: per process, RSS when the warm-up ends and at the end of the load, the growth between
them and the least-squares slope (kB/min) over the samples after the warm-up; plus requests,
errors and the achieved rate. Writes OUTFILE (default bench/out/soak-<time>.json): the summary,
every memory and metrics sample, and the end-to-end lag per SAMPLE_EVERY window (not every
delivery). Prints the summary, then a table of the figures ending with the verdict on lag
(memory has no pass/fail: read its growth and slope).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

try:  # the service signs with it, so .venv has it; the soak still runs without
    from standardwebhooks import Webhook
except ImportError:  # pragma: no cover - only without the service's requirements
    Webhook = None  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("PORT", "8152"))
SECONDS = int(os.environ.get("SECONDS", "300"))
WARMUP = int(os.environ.get("WARMUP", "60"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "4"))
RATE = float(os.environ.get("RATE", "150"))
SAMPLE_EVERY = int(os.environ.get("SAMPLE_EVERY", "10"))
METRICS_EVERY = float(os.environ.get("METRICS_EVERY", "1"))
REMINDER_SHARE = float(os.environ.get("REMINDER_SHARE", "0.5"))
REMINDER_AHEAD = float(os.environ.get("REMINDER_AHEAD", "3"))
DRAIN = float(os.environ.get("DRAIN", "15"))
LAG_TARGET = float(os.environ.get("LAG_TARGET", "1.0"))

HOOK_EVENTS = ["task.created", "task.completed", "task.uncompleted", "reminder.fired"]
# What the soak expects the receiver to get, by the write that causes it: a create, a toggle
# (one task.completed or task.uncompleted), a reminder (one reminder.fired).
KINDS = {
    "task.created": "create",
    "task.completed": "toggle",
    "task.uncompleted": "toggle",
    "reminder.fired": "reminder",
}
USERS, TASKS_PER_USER, WRITERS = 20, 20, 4


# --- memory -------------------------------------------------------------------------------


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


# --- figures ------------------------------------------------------------------------------


def p99(values: list[float]) -> float | None:
    """Return the 99th percentile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def lag_figures(values: list[float], missing: int = 0) -> dict[str, Any]:
    """Return count, max, p99 (seconds) and whether all stayed under LAG_TARGET."""
    top = max(values) if values else None
    pct = p99(values)
    return {
        "count": len(values),
        "max_s": None if top is None else round(top, 3),
        "p99_s": None if pct is None else round(pct, 3),
        "over_target": sum(1 for v in values if v >= LAG_TARGET),
        "missing": missing,
        "all_under_target": bool(values) and top < LAG_TARGET and missing == 0,
    }


def parse_time(text: str) -> float:
    """Return the unix time of an RFC 3339 timestamp as the service writes them."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(at: datetime) -> str:
    """Return a UTC timestamp as the API takes it."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the webhook receiver -----------------------------------------------------------------


@dataclass
class Delivery:
    """One request the receiver got."""

    arrived: float  # unix time, when the request's head had been read
    webhook_id: str | None
    webhook_timestamp: str | None
    signed: bool  # webhook-signature present
    verified: bool | None  # checked with standardwebhooks (None: not installed)
    event_id: str | None
    type: str | None
    user_id: str | None
    occurred_at: float | None
    fire_at: float | None  # reminder.fired: the reminder's fire_at


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 in a thread: answers 200, records every delivery."""

    secrets: dict[str, str] = field(default_factory=dict)  # user id -> the webhook's secret
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> None:
        """Listen on a free loopback port and serve in a daemon thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the worker's httpx client keeps connections

            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                receiver.record(arrived, {k.lower(): v for k, v in self.headers.items()}, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def record(self, arrived: float, headers: dict[str, str], body: bytes) -> None:
        """Parse and check one delivery, then keep it."""
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        user_id = event.get("user_id")
        verified = None
        secret = self.secrets.get(user_id or "")
        if Webhook is not None:
            verified = False
            if secret is not None:
                try:
                    Webhook(secret).verify(body, headers)
                    verified = True
                except Exception:  # noqa: S110 - WebhookVerificationError and friends: False
                    pass
        fire_at = None
        if event.get("type") == "reminder.fired":
            fire_at = parse_time(event["data"]["reminder"]["fire_at"])
        delivery = Delivery(
            arrived=arrived,
            webhook_id=headers.get("webhook-id"),
            webhook_timestamp=headers.get("webhook-timestamp"),
            signed=bool(headers.get("webhook-signature")),
            verified=verified,
            event_id=event.get("id"),
            type=event.get("type"),
            user_id=user_id,
            occurred_at=parse_time(event["occurred_at"]) if "occurred_at" in event else None,
            fire_at=fire_at,
        )
        with self.lock:
            self.deliveries.append(delivery)

    def count(self) -> int:
        """Return how many deliveries arrived so far."""
        with self.lock:
            return len(self.deliveries)


# --- the load -----------------------------------------------------------------------------


class Client(threading.Thread):
    """One keep-alive client sending the mixed workload at its share of RATE."""

    def __init__(
        self,
        index: int,
        tasks: list[str],
        users: list[str],
        writer: str,
        hooked: set[str],
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True)
        self.index, self.tasks, self.users, self.writer = index, tasks, users, writer
        self.hooked, self.stop = hooked, stop
        self.requests = self.errors = 0
        self.reminders = 0  # reminders created (every user)
        # deliveries due to users with a webhook, by kind (KINDS)
        self.expected: dict[str, int] = dict.fromkeys(("create", "toggle", "reminder"), 0)
        self.random = random.Random(index)  # noqa: S311 - load mix, not security

    def call(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
    ) -> int:
        """Send one request, read the answer, count it; return its status."""
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        self.requests += 1
        if resp.status >= 400:
            self.errors += 1
        return resp.status

    def create_body(self) -> tuple[bytes, bool]:
        """Return a create's body, and whether it carries a reminder."""
        task: dict[str, Any] = {"title": "soak task", "description": "created by bench/soak.py"}
        if self.random.random() >= REMINDER_SHARE:
            return json.dumps(task).encode(), False
        fire_at = datetime.now(UTC) + timedelta(seconds=REMINDER_AHEAD)
        if self.reminders % 2:
            task["due_at"] = iso(fire_at + timedelta(minutes=1))
            task["reminders"] = [{"before_due": 1}]
        else:
            task["reminders"] = [{"at": iso(fire_at)}]
        return json.dumps(task).encode(), True

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
                    path = self.random.choice(self.tasks)
                    status = self.call(conn, "PATCH", path + "/complete")
                    if status == 200 and path.split("/")[2] in self.hooked:
                        self.expected["toggle"] += 1
                else:
                    body, reminder = self.create_body()
                    status = self.call(conn, "POST", f"/api/{self.writer}/tasks", body)
                    if status == 201:
                        self.reminders += reminder
                        if self.writer in self.hooked:
                            self.expected["create"] += 1
                            self.expected["reminder"] += reminder
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        conn.close()


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON, expect 201, return the answer's JSON."""
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 201:
        raise SystemExit(f"POST {path} answered {resp.status}: {data[:300]!r}")
    return json.loads(data)


def seed(run: str, receiver: Receiver) -> tuple[list[str], list[str], list[str], set[str]]:
    """Create the users, their tasks and the webhooks; return tasks, users, writers, hooked."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    users = [f"soak-{run}-{i}" for i in range(USERS)]
    writers = [f"soak-{run}-writer-{i}" for i in range(WRITERS)]
    tasks = []
    for user in users:
        for j in range(TASKS_PER_USER):
            task = post(conn, f"/api/{user}/tasks", {"title": f"task {j}", "tags": ["soak"]})
            tasks.append(f"/api/{user}/tasks/{task['id']}")
    hooked = set(users[::2] + writers[::2])
    for user in sorted(hooked):
        hook = post(conn, f"/api/{user}/webhooks", {"url": receiver.url, "events": HOOK_EVENTS})
        receiver.secrets[user] = hook["secret"]
    conn.close()
    return tasks, users, writers, hooked


# --- the service's metrics ----------------------------------------------------------------


def scrape(conn: http.client.HTTPConnection) -> dict[str, Any]:
    """Read the worker's lag and depth gauges and the reminder-lag histogram from /metrics."""
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    if resp.status != 200:
        raise OSError(f"/metrics answered {resp.status}")
    out: dict[str, Any] = {"buckets": {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            queue = sample.labels.get("queue")
            if sample.name == "tasks_worker_queue_lag_seconds" and queue:
                out[f"lag_{queue}"] = sample.value
            elif sample.name == "tasks_worker_queue_depth" and queue:
                out[f"depth_{queue}"] = sample.value
            elif sample.name == "tasks_worker_reminder_lag_seconds_bucket":
                out["buckets"][sample.labels["le"]] = int(sample.value)
            elif sample.name == "tasks_worker_reminder_lag_seconds_count":
                out["hist_count"] = int(sample.value)
            elif sample.name == "tasks_worker_reminder_lag_seconds_sum":
                out["hist_sum"] = sample.value
            elif sample.name == "tasks_worker_reminders_total":
                out[f"reminders_{sample.labels['outcome']}"] = int(sample.value)
            elif sample.name == "tasks_worker_webhook_deliveries_total":
                out[f"deliveries_{sample.labels['outcome']}"] = int(sample.value)
    return out


def histogram_figures(buckets: dict[str, int], count: int, total: float) -> dict[str, Any]:
    """Return what the cumulative reminder-lag buckets say: p99 and max as bucket bounds."""
    bounds = sorted((float(le), n) for le, n in buckets.items())
    target_bucket = min((b for b, _ in bounds if b >= LAG_TARGET), default=math.inf)
    within = max((n for b, n in bounds if b <= target_bucket), default=0)

    def bound(rank: float) -> float | None:
        return next((b for b, n in bounds if n >= rank), None) if count else None

    return {
        "count": count,
        "mean_s": round(total / count, 3) if count else None,
        "p99_le_s": bound(math.ceil(0.99 * count)),
        "max_le_s": bound(count),
        "target_bucket_le_s": target_bucket,
        "over_target": count - within,
        "all_under_target": count > 0 and count == within,
        "buckets": {le: n for le, n in buckets.items()},
    }


def worker_log(path: Path) -> dict[str, Any]:
    """Read the worker's JSON log lines: each firing's lag_seconds, and any warnings.

    The warning the soak causes on purpose (WEBHOOK_ALLOW_INSECURE is on) is not counted;
    any other line above INFO, or not JSON, is.
    """
    lags: list[float] = []
    warnings: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            warnings.append(line[:300])
            continue
        message = str(entry.get("message", ""))
        if message == "reminder fired":
            lags.append(float(entry["lag_seconds"]))
        elif entry.get("level") not in ("INFO", "DEBUG") and not message.startswith(
            "WEBHOOK_ALLOW_INSECURE is on"
        ):
            warnings.append(line[:300])
    return {"reminder_lag": lag_figures(lags), "warnings": len(warnings), "first": warnings[:10]}


# --- the run ------------------------------------------------------------------------------


def wait_ready(proc: subprocess.Popen[bytes]) -> None:
    """Wait up to 30 s for GET /livez; stop if gunicorn exits."""
    for _ in range(150):
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/livez", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /livez within 30 s")


def stop_process(proc: subprocess.Popen[bytes], group: bool) -> int | None:
    """SIGTERM a process (or its process group) and wait; return its exit status."""
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def main() -> None:
    """Run the soak and write the figures."""
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("set DATABASE_URL to a migrated database (see the usage above)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outfile = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / f"bench/out/soak-{stamp}.json")
    outfile.parent.mkdir(parents=True, exist_ok=True)
    receiver = Receiver()
    receiver.start()
    metrics_dir = tempfile.mkdtemp(prefix="tasks-metrics-")
    env = dict(
        os.environ,
        BIND=f"127.0.0.1:{PORT}",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        TASKS_OWN_METRICS_DIR=metrics_dir,
        WEBHOOK_ALLOW_INSECURE="true",
        PUBLIC_URL=f"http://127.0.0.1:{PORT}",
    )
    log = tempfile.NamedTemporaryFile(prefix="soak-worker-", suffix=".log", delete=False)
    log_path = Path(log.name)
    # As `make run`: the worker first, then gunicorn, both with the one metrics directory.
    worker = subprocess.Popen(  # noqa: S603 - our own worker
        [str(ROOT / ".venv/bin/python"), "-m", "service.worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "service.wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the access log is written, then dropped
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    memory: list[dict[str, Any]] = []
    scrapes: list[dict[str, Any]] = []
    clients: list[Client] = []
    statuses: dict[str, int | None] = {}

    def sample_memory(t: float) -> None:
        pids = [("gunicorn-master", server.pid), ("service.worker", worker.pid)]
        pids += [("gunicorn-worker", pid) for pid in workers_of(server.pid)]
        for role, pid in pids:
            memory.append({"t": round(t, 1), "pid": pid, "role": role, **memory_kb(pid)})

    try:
        wait_ready(server)
        tasks, users, writers, hooked = seed(str(int(time.time())), receiver)
        stop = threading.Event()
        clients = [
            Client(i, tasks, users, writers[i % WRITERS], hooked, stop) for i in range(CONCURRENCY)
        ]
        metrics_conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        started = time.monotonic()
        wall_start = time.time()
        for client in clients:
            client.start()
        next_memory = next_metrics = 0.0
        scrape_errors = 0
        phase = "load"
        load_end = drain_end = math.inf
        while True:
            elapsed = time.monotonic() - started
            if phase == "load" and elapsed >= SECONDS:
                stop.set()
                for client in clients:
                    client.join()
                load_end = time.monotonic() - started
                sample_memory(load_end)  # the end of the load: the figures' "end"
                phase, drain_end = "drain", load_end + DRAIN
            if phase == "drain":
                expected = sum(sum(c.expected.values()) for c in clients)
                if receiver.count() >= expected or elapsed >= drain_end:
                    break
            if worker.poll() is not None or server.poll() is not None:
                raise SystemExit("the worker or gunicorn exited during the soak")
            if phase == "load" and elapsed >= next_memory:
                sample_memory(elapsed)
                next_memory += SAMPLE_EVERY
            if elapsed >= next_metrics:
                try:
                    scrapes.append({"t": round(elapsed, 1), **scrape(metrics_conn)})
                except (OSError, http.client.HTTPException):
                    scrape_errors += 1
                    metrics_conn.close()
                    metrics_conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
                next_metrics += METRICS_EVERY
            wake = next_metrics if phase == "drain" else min(next_metrics, next_memory, SECONDS)
            time.sleep(max(0.0, wake - (time.monotonic() - started)))
        drained = time.monotonic() - started
        final = scrape(metrics_conn)  # the histogram and counters after the drain
        metrics_conn.close()
    finally:
        statuses["worker"] = stop_process(worker, group=False)
        statuses["gunicorn"] = stop_process(server, group=True)
        receiver.stop()
        log.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)  # gunicorn removes it; in case it did not

    summary = summarise(
        clients, receiver, memory, scrapes, final, hooked, load_end, drained, scrape_errors
    )
    summary["exit_status"] = statuses
    summary["worker_log"] = worker_log(log_path)
    log_path.unlink()
    windows = e2e_windows(receiver.deliveries, wall_start)
    summary["lag_target_met"] = all(
        m["all_under_target"]
        for m in (
            *summary["lag"]["metrics_gauges"].values(),
            summary["lag"]["metrics_reminder_histogram"],
            summary["worker_log"]["reminder_lag"],
            *summary["lag"]["end_to_end"].values(),
        )
    )
    result = {"summary": summary, "memory": memory, "metrics": scrapes, "end_to_end": windows}
    outfile.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(report(summary))
    print(f"written to {outfile}")


def report(summary: dict[str, Any]) -> str:
    """Return the summary's figures as a few readable lines, the verdict on lag last."""

    def secs(value: float | None, prefix: str = "") -> str:
        return "-" if value is None else f"{prefix}{value:.3f}"

    lines = [
        f"{'process':<16} {'pid':>7} {'RSS after warm-up':>18} {'at the end':>11} "
        f"{'growth':>8} {'slope':>14} {'peak':>10}"
    ]
    for pid, p in summary["processes"].items():
        lines.append(
            f"{p['role']:<16} {pid:>7} {p['rss_kb_after_warmup']:>15,} kB {p['rss_kb_end']:>11,} "
            f"{p['growth_kb']:>+8,} {p['slope_kb_per_min']:>7} kB/min {p['peak_rss_kb']:>10,}"
        )
    lag = summary["lag"]
    hist = lag["metrics_reminder_histogram"]
    rows = [(f"metrics: queue lag gauge {q}", g) for q, g in lag["metrics_gauges"].items()]
    rows.append(("worker log: reminder lag_seconds", summary["worker_log"]["reminder_lag"]))
    rows += [(f"end to end: {name}", m) for name, m in lag["end_to_end"].items()]
    lines.append(f"\nworker lag, target < {LAG_TARGET} s:")
    lines.append(f"{'':<46} {'n':>6} {'max s':>7} {'p99 s':>7} {'over':>5} {'missing':>7}  under?")
    for name, m in rows:
        lines.append(
            f"{name:<46} {m['count']:>6} {secs(m['max_s']):>7} {secs(m['p99_s']):>7} "
            f"{m['over_target']:>5} {m['missing']:>7}  {'yes' if m['all_under_target'] else 'NO'}"
        )
    lines.append(
        f"{'metrics: reminder lag histogram (bucket bounds)':<46} {hist['count']:>6} "
        f"{'<=' + str(hist['max_le_s']):>7} {'<=' + str(hist['p99_le_s']):>7} "
        f"{hist['over_target']:>5} {'':>7}  {'yes' if hist['all_under_target'] else 'NO'}"
    )
    hooks = summary["webhooks"]
    lines.append(
        f"\n{summary['requests']:,} requests in {summary['seconds']} s "
        f"({summary['achieved_rate']} req/s), {summary['errors']} errors; "
        f"{summary['reminders_created']:,} reminders created; deliveries received "
        f"{sum(hooks['received'].values()):,} of {sum(hooks['expected'].values()):,} expected, "
        f"{hooks['duplicates']} duplicates, {hooks['verified']:,} signatures verified, "
        f"{hooks['verify_failed']} failed; worker log warnings: {summary['worker_log']['warnings']}"
    )
    lines.append(f"worker lag target met: {'yes' if summary['lag_target_met'] else 'NO'}")
    return "\n".join(lines)


def summarise(
    clients: list[Client],
    receiver: Receiver,
    memory: list[dict[str, Any]],
    scrapes: list[dict[str, Any]],
    final: dict[str, Any],
    hooked: set[str],
    load_end: float,
    drained: float,
    scrape_errors: int,
) -> dict[str, Any]:
    """Return the soak's summary: load, memory per process, webhooks and lag."""
    requests = sum(c.requests for c in clients)
    processes = {}
    for pid in sorted({s["pid"] for s in memory}):
        mine = [s for s in memory if s["pid"] == pid]
        after = [s for s in mine if s["t"] >= WARMUP] or mine
        processes[pid] = {
            "role": mine[0]["role"],
            "rss_kb_after_warmup": after[0]["VmRSS"],
            "rss_kb_end": mine[-1]["VmRSS"],
            "growth_kb": mine[-1]["VmRSS"] - after[0]["VmRSS"],
            "slope_kb_per_min": slope_kb_per_min([(s["t"], s["VmRSS"]) for s in after]),
            "peak_rss_kb": max(s["VmHWM"] for s in mine),
        }

    deliveries = list(receiver.deliveries)
    expected = {kind: sum(c.expected[kind] for c in clients) for kind in clients[0].expected}
    by_type: dict[str, int] = {}
    received = dict.fromkeys(expected, 0)
    for event in {d.webhook_id: d for d in deliveries}.values():  # each event once
        by_type[event.type or "?"] = by_type.get(event.type or "?", 0) + 1
        if event.type in KINDS:
            received[KINDS[event.type]] += 1
    unique = len({d.webhook_id for d in deliveries})
    missing = {kind: max(0, expected[kind] - received[kind]) for kind in expected}
    task_lags = [d.arrived - d.occurred_at for d in deliveries if d.occurred_at is not None]
    reminders = [d for d in deliveries if d.fire_at is not None]

    gauges = {}
    for queue in ("reminders", "webhook_deliveries"):
        values = [s[f"lag_{queue}"] for s in scrapes if f"lag_{queue}" in s]
        gauges[queue] = lag_figures(values) | {
            "max_depth": max((s.get(f"depth_{queue}", 0) for s in scrapes), default=0)
        }
    return {
        "seconds": round(load_end),
        "drain_s": round(drained - load_end, 1),
        "warmup_s": WARMUP,
        "concurrency": CONCURRENCY,
        "target_rate": RATE,
        "achieved_rate": round(requests / load_end, 1),
        "requests": requests,
        "errors": sum(c.errors for c in clients),
        "reminders_created": sum(c.reminders for c in clients),
        "lag_target_s": LAG_TARGET,
        "processes": processes,
        "webhooks": {
            "users_with_webhook": len(hooked),
            "expected": expected,
            "received": received,
            "received_by_event_type": by_type,
            "missing": missing,
            "duplicates": len(deliveries) - unique,
            "signed": sum(d.signed for d in deliveries),
            "verified": sum(1 for d in deliveries if d.verified),
            "verify_failed": sum(1 for d in deliveries if d.verified is False),
            "verified_with": "standardwebhooks" if Webhook is not None else None,
        },
        "worker_metrics_end": {
            k: v for k, v in final.items() if k.startswith(("reminders_", "deliveries_"))
        },
        "lag": {
            "metrics_gauges": gauges,
            "metrics_reminder_histogram": histogram_figures(
                final.get("buckets", {}), final.get("hist_count", 0), final.get("hist_sum", 0.0)
            ),
            "metrics_scrapes": len(scrapes),
            "metrics_scrape_errors": scrape_errors,
            "end_to_end": {
                "delivery_after_event": lag_figures(task_lags, sum(missing.values())),
                "reminder_arrival_after_fire_at": lag_figures(
                    [d.arrived - d.fire_at for d in reminders if d.fire_at is not None],
                    missing["reminder"],
                ),
            },
        },
    }


def e2e_windows(deliveries: list[Delivery], wall_start: float) -> list[dict[str, Any]]:
    """Return the end-to-end lag per SAMPLE_EVERY window of arrival: count, max and p99."""
    windows: dict[int, list[Delivery]] = {}
    for d in deliveries:
        windows.setdefault(int((d.arrived - wall_start) // SAMPLE_EVERY), []).append(d)
    out = []
    for index in sorted(windows):
        mine = windows[index]
        lags = [d.arrived - d.occurred_at for d in mine if d.occurred_at is not None]
        fired = [d.arrived - d.fire_at for d in mine if d.fire_at is not None]
        out.append(
            {
                "t": index * SAMPLE_EVERY,
                "deliveries": len(mine),
                "max_s": round(max(lags), 3) if lags else None,
                "p99_s": round(p99(lags), 3) if lags else None,
                "reminders": len(fired),
                "reminder_max_s": round(max(fired), 3) if fired else None,
            }
        )
    return out


if __name__ == "__main__":
    main()
