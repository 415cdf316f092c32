"""/metrics: request counts and latency by route template, pool gauges, database errors.

The session runs in prometheus-client's multiprocess mode (conftest sets a temporary
PROMETHEUS_MULTIPROC_DIR), as under gunicorn; counters are process-wide, so each test compares
a scrape before with one after its own requests.
"""

from __future__ import annotations

import os
import threading

import psycopg
import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import PoolTimeout
from webtest import TestApp

from service.core.metrics import classify_database_error
from service.server.bootstrap import build
from tests.conftest import make_config

ITEM_ROUTE = "/api/{user_id}/tasks/{task_id}"
COLLECTION_ROUTE = "/api/{user_id}/tasks"


def scrape(app: TestApp) -> dict[tuple[str, frozenset], float]:
    """Return every sample of /metrics keyed by (name, labels)."""
    resp = app.get("/metrics")
    assert resp.content_type == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    """Return one sample's value, 0 when the series does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_the_suite_runs_metrics_in_multiprocess_mode():
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert values.ValueClass._multiprocess


def test_requests_are_counted_by_route_template_method_and_status(app, api):
    before = scrape(app)
    task = api.created()
    api.app.get(api.item(task["id"]))
    api.app.get(api.item(task["id"]))
    api.app.get(api.item("00000000-0000-0000-0000-000000000000"), status=404)
    api.app.get(api.base)
    after = scrape(app)

    def delta(name: str, route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status}
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tasks_http_requests_total", COLLECTION_ROUTE, "POST", "201") == 1
    assert delta("tasks_http_requests_total", ITEM_ROUTE, "GET", "200") == 2
    assert delta("tasks_http_requests_total", ITEM_ROUTE, "GET", "404") == 1
    assert delta("tasks_http_requests_total", COLLECTION_ROUTE, "GET", "200") == 1
    # The histogram counts the same requests, and its buckets are cumulative.
    assert delta("tasks_http_request_duration_seconds_count", ITEM_ROUTE, "GET", "200") == 2
    inf_bucket = {"route": ITEM_ROUTE, "method": "GET", "status": "200", "le": "+Inf"}
    assert value(after, "tasks_http_request_duration_seconds_bucket", **inf_bucket) == value(
        after, "tasks_http_request_duration_seconds_count", **dict(list(inf_bucket.items())[:3])
    )
    assert delta("tasks_http_request_duration_seconds_sum", ITEM_ROUTE, "GET", "200") > 0


def test_no_user_or_task_id_ever_appears_in_a_label(app, api):
    task = api.created()
    api.app.get(api.item(task["id"]))
    api.app.patch(api.item(task["id"]) + "/complete")
    text = app.get("/metrics").text
    assert api.user_id not in text
    assert task["id"] not in text


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")
def test_paths_no_route_matches_share_one_label_and_odd_methods_are_other(app):
    before = scrape(app)
    app.get("/no/such/path/one", status=404)
    app.get("/no/such/path/two", status=404)
    app.request("/livez", method="BREW", status="*")
    after = scrape(app)
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert (
        value(after, "tasks_http_requests_total", **labels)
        - value(before, "tasks_http_requests_total", **labels)
        == 2
    )
    other = [key for key in after if key[0] == "tasks_http_requests_total"]
    assert any(("method", "OTHER") in labels for _, labels in other)
    assert not any(("method", "BREW") in labels for _, labels in other)


def test_pool_gauges_show_this_workers_pool_per_process_and_summed(app, runtime):
    samples = scrape(app)
    stats = runtime.pool.get_stats()
    pid = str(os.getpid())
    worker = {"pool": "tasks", "pid": pid}
    assert value(samples, "tasks_db_pool_worker_size", **worker) == stats["pool_size"]
    assert value(samples, "tasks_db_pool_worker_available", **worker) == stats["pool_available"]
    assert value(samples, "tasks_db_pool_worker_waiting", **worker) == 0
    # Summed over live processes: this test process is the only one.
    assert value(samples, "tasks_db_pool_size", pool="tasks") == stats["pool_size"]
    assert value(samples, "tasks_db_pool_available", pool="tasks") == stats["pool_available"]
    assert ("tasks_db_pool_waiting", frozenset({("pool", "tasks")})) in samples


def test_database_error_kinds_are_exposed_from_the_start(app):
    samples = scrape(app)
    for kind in ("unavailable", "timeout", "other"):
        assert ("tasks_db_errors_total", frozenset({("kind", kind)})) in samples


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), "timeout"),
        (PoolTimeout("couldn't get a connection after 2.00 sec"), "unavailable"),
        (psycopg.OperationalError("connection refused"), "unavailable"),
        (psycopg.errors.AdminShutdown("terminating connection"), "unavailable"),
        (psycopg.InterfaceError("the connection is closed"), "unavailable"),
        (psycopg.errors.DataError("invalid input"), "other"),
    ],
)
def test_database_errors_are_classified_by_kind(error, kind):
    assert classify_database_error(error) == kind


def test_a_statement_cancelled_by_the_timeout_counts_as_a_timeout(database_url, api, db):
    task = api.created()
    rt = build(make_config(database_url, PG_STATEMENT_TIMEOUT_MS="200", POOL_MIN_SIZE="1"))
    rt.pool.open(wait=True, timeout=10)
    app = TestApp(rt.app)
    before = scrape(app)
    try:
        # Hold the row's lock so that the toggle waits until statement_timeout cancels it.
        with db.transaction():
            db.execute(
                "SELECT 1 FROM tasks WHERE user_id = %s AND id = %s FOR UPDATE",
                (api.user_id, task["id"]),
            )
            app.patch(api.item(task["id"]) + "/complete", status=503)
    finally:
        rt.stop()
    after = scrape(app)
    timeouts = value(after, "tasks_db_errors_total", kind="timeout")
    assert timeouts - value(before, "tasks_db_errors_total", kind="timeout") == 1
    assert value(after, "tasks_db_errors_total", kind="unavailable") == value(
        before, "tasks_db_errors_total", kind="unavailable"
    )


def test_an_unreachable_database_counts_as_unavailable():
    config = make_config(
        "postgresql://postgres@127.0.0.1:1/none", POOL_TIMEOUT="0.2", PG_CONNECT_TIMEOUT="1"
    )
    rt = build(config)
    rt.pool.open(wait=False)
    app = TestApp(rt.app)
    try:
        before = scrape(app)
        app.get("/api/someone/tasks", status=503)
        after = scrape(app)
    finally:
        rt.stop()
    kind = {"kind": "unavailable"}
    assert (
        value(after, "tasks_db_errors_total", **kind)
        - value(before, "tasks_db_errors_total", **kind)
        == 1
    )


def test_the_pool_sampler_thread_updates_the_gauges_and_stops(runtime):
    from service.core.metrics import POOL_WORKER, PoolMetrics

    gauge = POOL_WORKER["pool_size"].labels("tasks")
    gauge.set(-1)
    sampled = threading.Event()
    sampler = PoolMetrics(runtime.pool, interval=0.05)
    original = sampler.sample

    def sample() -> None:
        original()
        sampled.set()

    sampler.sample = sample  # type: ignore[method-assign]
    sampler.start()
    try:
        assert sampled.wait(timeout=10)
    finally:
        sampler.stop()
    assert gauge._value.get() == runtime.pool.get_stats()["pool_size"]
    assert sampler._thread is None


def test_a_scrape_reads_again_when_a_workers_file_vanishes_mid_read(tmp_path, monkeypatch):
    """A dead worker's live gauges removed between listing and opening cost no 500."""
    from prometheus_client import multiprocess as prometheus_multiprocess

    from service.core import metrics

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    real_merge = prometheus_multiprocess.MultiProcessCollector.merge
    calls = {"n": 0}

    def flaky_merge(files, accumulate=True):
        calls["n"] += 1
        if calls["n"] == 1:
            raise FileNotFoundError("gauge_liveall_123.db")
        return real_merge(files, accumulate)

    monkeypatch.setattr(
        prometheus_multiprocess.MultiProcessCollector, "merge", staticmethod(flaky_merge)
    )
    metrics.exposition()
    assert calls["n"] == 2
