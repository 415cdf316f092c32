"""Tests of bench/soak.py's parts that need no database: its webhook receiver (a real HTTP
server on 127.0.0.1, sent deliveries signed by the worker's own code) and its lag figures."""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from service.jobs.deliver_webhooks import event_body, signed_headers
from tests.load.test_bench_tools import load_module

soak = load_module("soak")


def send(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a delivery to the receiver as the worker would; return the status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("POST", parts.path, body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_receiver_records_signed_deliveries_and_their_times() -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    receiver = soak.Receiver(secrets={"alice": secret})
    receiver.start()
    try:
        occurred = datetime.now(UTC) - timedelta(seconds=0.5)
        fire_at = occurred - timedelta(seconds=0.25)
        row = {
            "event_id": "0d4f3e55-9b35-4a38-9a51-7a5b1c5d1f01",
            "type": "reminder.fired",
            "occurred_at": occurred,
            "user_id": "alice",
            "data": {"task": {}, "reminder": {"fire_at": soak.iso(fire_at)}},
        }
        body = event_body(row)
        assert (
            send(receiver.url, body, signed_headers(secret, row["event_id"], body, occurred)) == 200
        )
        forged = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        assert (
            send(receiver.url, body, signed_headers(forged, row["event_id"], body, occurred)) == 200
        )
        deadline = time.monotonic() + 5
        while receiver.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        receiver.stop()
    good, bad = receiver.deliveries
    assert (good.verified, bad.verified) == (True, False)
    assert good.signed and good.webhook_id == row["event_id"] == good.event_id
    assert good.type == "reminder.fired" and good.user_id == "alice"
    assert abs(good.occurred_at - occurred.timestamp()) < 1e-5
    assert abs(good.fire_at - fire_at.timestamp()) < 1e-5
    assert 0.5 <= good.arrived - good.occurred_at < 5


def test_lag_figures_max_p99_and_the_target() -> None:
    values = [i / 100 for i in range(100)]  # 0.00 .. 0.99
    figures = soak.lag_figures(values)
    assert figures["max_s"] == 0.99 and figures["p99_s"] == 0.98
    assert figures["over_target"] == 0 and figures["all_under_target"]
    assert not soak.lag_figures(values, missing=1)["all_under_target"]
    assert soak.lag_figures([*values, 1.0])["over_target"] == 1
    assert not soak.lag_figures([])["all_under_target"]


def test_histogram_figures_read_bucket_bounds() -> None:
    buckets = {"0.25": 50, "0.5": 90, "1.0": 99, "2.0": 100, "+Inf": 100}
    figures = soak.histogram_figures(buckets, 100, 40.0)
    assert figures["p99_le_s"] == 1.0 and figures["max_le_s"] == 2.0
    assert figures["over_target"] == 1 and not figures["all_under_target"]
    assert figures["mean_s"] == 0.4
    within = soak.histogram_figures({"0.5": 3, "1.0": 4, "+Inf": 4}, 4, 1.0)
    assert within["all_under_target"] and within["max_le_s"] == 1.0


def test_worker_log_reads_firings_and_counts_unexpected_warnings(tmp_path: Path) -> None:
    lines = [
        {"level": "WARNING", "message": "WEBHOOK_ALLOW_INSECURE is on: webhooks may ..."},
        {"level": "INFO", "message": "reminder fired", "lag_seconds": 0.4},
        {"level": "INFO", "message": "reminder fired", "lag_seconds": 1.2},
        {"level": "WARNING", "message": "job deliver_webhooks failed; next try in 0.5 s"},
    ]
    log = tmp_path / "worker.log"
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    figures = soak.worker_log(log)
    assert figures["reminder_lag"]["count"] == 2 and figures["reminder_lag"]["max_s"] == 1.2
    assert figures["reminder_lag"]["over_target"] == 1
    assert figures["warnings"] == 2
