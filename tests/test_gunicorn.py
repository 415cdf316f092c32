"""The service under real gunicorn with 2 workers and the gunicorn.conf.py that ships.

Checks what only a multi-process server shows: /metrics adds up the requests of every
worker, a dead worker's live gauges go away, the per-master metrics directory is created and
removed, and every line gunicorn and the app write is a JSON object carrying the request id.
The tests share one server per worker class and run in file order; the last one stops it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from service.core.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

ITEM_ROUTE = "/api/{user_id}/tasks/{task_id}"
# How long to wait for the server to do something before calling it broken (not a timing
# assertion: each wait ends as soon as the condition holds).
PATIENCE_SECONDS = 30


def wait_for(condition, what: str):
    """Poll `condition` until it returns something truthy; fail after PATIENCE_SECONDS."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def json_lines(path: Path) -> list[dict]:
    """Parse every line of a log file as JSON (fails on any other line)."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


@dataclass
class Server:
    """A gunicorn master started by the tests, with its logs and address."""

    process: subprocess.Popen
    access_log: Path
    error_log: Path
    port: int = 0
    metrics_dir: Path | None = None
    sent_request_ids: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: dict | None = None, request_id: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request on a fresh connection; return status, headers (lower-case), body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Connection": "close", "User-Agent": "tasks-tests/1"}
        if request_id:
            headers["X-Request-ID"] = request_id
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def scrape(self) -> dict[tuple[str, frozenset], float]:
        """Return every sample of /metrics keyed by (name, labels)."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200
        samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    def worker_pids(self) -> set[str]:
        """Return the pids of the live workers, from the per-worker pool gauges."""
        return {
            dict(labels)["pid"]
            for name, labels in self.scrape()
            if name == "tasks_db_pool_worker_size"
        }

    def stop(self) -> int:
        """Stop gunicorn gracefully and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=PATIENCE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def _listening_port(server: Server) -> int | None:
    for line in server.error_log.read_text().splitlines():
        if "Listening at:" in line:
            return int(json.loads(line)["message"].rsplit(":", 1)[1].split(" ")[0])
    return None


def _metrics_dir(server: Server) -> Path | None:
    for entry in json_lines(server.error_log):
        if "metrics_dir" in entry:
            return Path(entry["metrics_dir"])
    return None


def start_server(logs: Path, **settings: str) -> Server:
    """Start gunicorn -c gunicorn.conf.py with `settings` in its environment on a free port.

    Returns once it listens; the caller stops it (`Server.stop`). WORKER_CLASS and THREADS
    from the outer environment are dropped, so an unset one means the shipped default.
    """
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.pop("WORKER_CLASS", None)
    env.pop("THREADS", None)
    env.update(BIND="127.0.0.1:0", **settings)
    access_log, error_log = logs / "access.log", logs / "error.log"
    with access_log.open("w") as out, error_log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    srv = Server(process=process, access_log=access_log, error_log=error_log)
    try:
        srv.port = wait_for(lambda: process.poll() is None and _listening_port(srv), "listening")
    except BaseException:
        srv.stop()
        raise
    return srv


@pytest.fixture(scope="module", params=["keepalive", "sync", "gthread"])
def server(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Start gunicorn -c gunicorn.conf.py with 2 workers of each class on a free port."""
    srv = start_server(
        tmp_path_factory.mktemp("gunicorn"),
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="2",
        WORKER_CLASS=request.param,
        LOG_LEVEL="INFO",
        ACCESS_LOG="-",
        PG_STATEMENT_TIMEOUT_MS="300",
    )
    try:
        srv.metrics_dir = _metrics_dir(srv)
        wait_for(lambda: len(srv.worker_pids()) == 2, "both workers to publish their pools")
        yield srv
    finally:
        srv.stop()


def _item_gets_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Read each worker's own file: how many item GETs that worker answered 200."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                labels = sample.labels
                if (
                    sample.name == "tasks_http_requests_total"
                    and labels.get("route") == ITEM_ROUTE
                    and labels.get("method") == "GET"
                    and labels.get("status") == "200"
                ):
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def test_the_master_creates_a_metrics_directory_of_its_own(server):
    assert server.metrics_dir is not None
    assert server.metrics_dir.is_dir()
    assert server.metrics_dir != Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def test_request_counts_add_up_across_workers(server):
    status, _, body = server.request("POST", "/api/gunicorn-user/tasks", {"title": "counted"})
    assert status == 201
    path = f"/api/gunicorn-user/tasks/{json.loads(body)['id']}"
    sent = 0

    def get(_: int) -> int:
        request_id = f"agg-{uuid.uuid4().hex}"
        server.sent_request_ids.append(request_id)
        return server.request("GET", path, request_id=request_id)[0]

    # Concurrent batches until both workers have answered some (each on a new connection).
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(50):
            assert set(pool.map(get, range(16))) == {200}
            sent += 16
            per_worker = _item_gets_per_worker(server.metrics_dir)
            if len(per_worker) == 2 and all(per_worker.values()):
                break
    per_worker = _item_gets_per_worker(server.metrics_dir)
    assert len(per_worker) == 2, per_worker
    assert sum(per_worker.values()) == sent
    labels = frozenset({("route", ITEM_ROUTE), ("method", "GET"), ("status", "200")})
    # Whichever worker answers the scrape, it reports both workers' requests.
    for _ in range(4):
        samples = server.scrape()
        assert samples[("tasks_http_requests_total", labels)] == sent
        assert samples[("tasks_http_request_duration_seconds_count", labels)] == sent


def test_pool_gauges_are_per_worker_and_summed(server):
    samples = server.scrape()
    pids = server.worker_pids()
    assert len(pids) == 2
    per_worker = [
        samples[("tasks_db_pool_worker_size", frozenset({("pool", "tasks"), ("pid", pid)}))]
        for pid in pids
    ]
    assert all(size >= 1 for size in per_worker)
    total = samples[("tasks_db_pool_size", frozenset({("pool", "tasks")}))]
    # The other worker's gauge is sampled every second, so it may be a step behind.
    assert total >= 2


def test_a_statement_timeout_under_gunicorn_is_counted_and_logged_with_its_request_id(server, db):
    status, _, body = server.request("POST", "/api/gunicorn-slow/tasks", {"title": "locked"})
    task_id = json.loads(body)["id"]
    kind = frozenset({("kind", "timeout")})
    before = server.scrape()[("tasks_db_errors_total", kind)]
    request_id = f"slow-{uuid.uuid4().hex}"
    with db.transaction():
        db.execute(
            "SELECT 1 FROM tasks WHERE user_id = %s AND id = %s FOR UPDATE",
            ("gunicorn-slow", task_id),
        )
        status, headers, _ = server.request(
            "PATCH", f"/api/gunicorn-slow/tasks/{task_id}/complete", request_id=request_id
        )
    assert status == 503
    assert headers["x-request-id"] == request_id
    assert server.scrape()[("tasks_db_errors_total", kind)] == before + 1

    def app_line():
        for entry in json_lines(server.error_log):
            if entry.get("logger") == "service.api.errors" and entry["request_id"] == request_id:
                return entry
        return None

    entry = wait_for(app_line, "the app's log line about the timeout")
    assert entry["level"] == "WARNING"
    assert "QueryCanceled" in entry["message"]


def test_a_dead_workers_live_gauges_disappear(server):
    pids = server.worker_pids()
    victim = sorted(pids)[0]
    assert (server.metrics_dir / f"gauge_liveall_{victim}.db").exists()
    os.kill(int(victim), signal.SIGTERM)
    wait_for(
        lambda: not (server.metrics_dir / f"gauge_liveall_{victim}.db").exists(),
        "child_exit to mark the worker dead",
    )

    def replaced() -> set[str] | None:
        pids = server.worker_pids()
        return pids if len(pids) == 2 and victim not in pids else None

    new_pids = wait_for(replaced, "a replacement worker")
    assert victim not in new_pids
    # Its counters stay: the requests it answered still count.
    labels = frozenset({("route", ITEM_ROUTE), ("method", "GET"), ("status", "200")})
    assert server.scrape()[("tasks_http_requests_total", labels)] == len(server.sent_request_ids)


def raw_exchange(server: Server, data: bytes) -> bytes:
    """Send raw bytes on a fresh connection and return all the server sends back."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def chunked_post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + chunked(body)


def test_a_chunked_body_is_read_and_one_over_64_kib_is_a_413(server):
    answer = raw_exchange(
        server, chunked_post("/api/gunicorn-chunked/tasks", b'{"title": "sent in chunks"}')
    )
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["title"] == "sent in chunks"
    # Exactly the limit is still a body; one byte more is a 413.
    for size, status in ((65_536, b"422"), (65_537, b"413")):
        body = b'{"title": "x", "description": "' + b"y" * (size - 33) + b'"}'
        assert len(body) == size
        answer = raw_exchange(server, chunked_post("/api/gunicorn-chunked/tasks", body))
        assert answer.startswith(b"HTTP/1.1 " + status), (size, answer[:300])


def test_an_access_token_in_the_query_never_reaches_the_access_log(server):
    status, _, _ = server.request(
        "GET", "/livez?limit=1&access_token=s3cr3t-t0ken", request_id="tok-1"
    )
    assert status == 200

    def logged():
        entries = [e for e in json_lines(server.access_log) if e.get("request_id") == "tok-1"]
        return entries or None

    (entry,) = wait_for(logged, "the access log line")
    assert entry["query"] == "limit=1&access_token=[redacted]"
    assert "s3cr3t-t0ken" not in server.access_log.read_text()


def test_access_log_lines_are_json_with_the_request_id(server):
    def logged():
        entries = [e for e in json_lines(server.access_log) if e.get("request_id")]
        return entries if len(entries) >= len(server.sent_request_ids) else None

    entries = wait_for(logged, "the access log lines")
    by_id = {entry["request_id"]: entry for entry in entries}
    for request_id in server.sent_request_ids:
        entry = by_id[request_id]
        assert entry["logger"] == "gunicorn.access"
        assert entry["method"] == "GET"
        assert entry["path"].startswith("/api/gunicorn-user/tasks/")
        assert entry["status"] == 200
        assert entry["duration_ms"] >= 0
        assert entry["remote"] == "127.0.0.1"
        assert entry["user_agent"] == "tasks-tests/1"
    # Requests without an X-Request-ID get the one the app made up.
    generated = [e for e in entries if e["path"] == "/metrics"]
    assert generated
    assert all(len(e["request_id"]) == 32 for e in generated)


def test_error_log_lines_are_json(server):
    entries = json_lines(server.error_log)
    messages = [e["message"] for e in entries if e["logger"] == "gunicorn.error"]
    assert any(m.startswith("Booting worker") for m in messages)
    assert any(m.startswith("Listening at:") for m in messages)
    assert all({"time", "level", "logger", "message", "request_id"} <= e.keys() for e in entries)


def test_stopping_the_master_removes_its_metrics_directory(server):
    assert server.stop() == 0
    assert not server.metrics_dir.exists()
    # The shutdown messages are JSON too.
    assert json_lines(server.error_log)[-1]["logger"] == "gunicorn.error"
