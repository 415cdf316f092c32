"""Rate limits under real gunicorn with 2 workers: shared through Redis, per worker without it."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.test_gunicorn import Server, _metrics_dir, start_server, wait_for
from tests.test_rate_limits import REDIS_URL, require_redis, unique_prefix

pytestmark = pytest.mark.slow

LIST_ROUTE = "/api/{user_id}/tasks"
QUOTA = 12
STATE = re.compile(r'^"default";r=(\d+);t=(\d+)$')


def _answers_per_worker(metrics_dir: Path) -> dict[str, dict[str, float]]:
    """Read each worker's own file: its list answers by status."""
    counts: dict[str, dict[str, float]] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.split("_", 1)[1]
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                labels = sample.labels
                if sample.name == "tasks_http_requests_total" and labels["route"] == LIST_ROUTE:
                    by_status = counts.setdefault(pid, {})
                    by_status[labels["status"]] = by_status.get(labels["status"], 0) + sample.value
    return counts


def _hammer(server: Server, user: str) -> list[tuple[int, dict[str, str]]]:
    """List the user's tasks on new connections, 8 at a time, until both workers answered."""
    answers: list[tuple[int, dict[str, str]]] = []

    def get(_: int) -> tuple[int, dict[str, str]]:
        status, headers, _ = server.request("GET", f"/api/{user}/tasks")
        return status, headers

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(30):
            answers += pool.map(get, range(8))
            per_worker = _answers_per_worker(server.metrics_dir)
            if len(answers) >= 3 * QUOTA and len(per_worker) == 2:
                break
    return answers


def _start(tmp_path_factory, database_url: str, **settings: str) -> Server:
    srv = start_server(
        tmp_path_factory.mktemp("ratelimit"),
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="2",
        LOG_LEVEL="INFO",  # start_server reads the port from gunicorn's INFO line
        ACCESS_LOG="",
        RATE_LIMIT=f"{QUOTA}/hour",
        **settings,
    )
    try:
        srv.metrics_dir = _metrics_dir(srv)
        wait_for(lambda: len(srv.worker_pids()) == 2, "both workers to publish their pools")
    except BaseException:
        srv.stop()
        raise
    return srv


def test_with_redis_two_workers_share_one_limit(tmp_path_factory, database_url):
    require_redis()
    server = _start(
        tmp_path_factory,
        database_url,
        REDIS_URL=REDIS_URL,
        RATE_LIMIT_REDIS_PREFIX=unique_prefix(),
    )
    try:
        user = f"shared-{uuid.uuid4().hex[:8]}"
        answers = _hammer(server, user)
        per_worker = _answers_per_worker(server.metrics_dir)
    finally:
        assert server.stop() == 0
    assert len(per_worker) == 2 and all(per_worker.values()), per_worker
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == QUOTA
    assert statuses.count(429) == len(answers) - QUOTA
    # Each token was handed out once, whichever worker answered.
    remaining = sorted(int(STATE.match(h["ratelimit"]).group(1)) for s, h in answers if s == 200)
    assert remaining == list(range(QUOTA))
    assert all(int(h["retry-after"]) >= 1 for s, h in answers if s == 429)


def test_without_redis_each_worker_limits_on_its_own(tmp_path_factory, database_url):
    server = _start(tmp_path_factory, database_url)
    try:
        user = f"local-{uuid.uuid4().hex[:8]}"
        answers = _hammer(server, user)
        per_worker = _answers_per_worker(server.metrics_dir)
    finally:
        assert server.stop() == 0
    assert len(per_worker) == 2, per_worker
    # Each worker hands out the whole quota of its own (those that saw that many requests).
    for counts in per_worker.values():
        served = counts.get("200", 0)
        assert served == QUOTA or (served < QUOTA and not counts.get("429"))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == sum(c.get("200", 0) for c in per_worker.values()) > QUOTA
