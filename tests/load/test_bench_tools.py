"""Tests of bench/loadtest.py and bench/chart.py, against a tiny in-process fake API on loopback.

The fake answers like the contract for the calls the load test makes, and 422 to the filter
parameters, as a server without filters would; each load run here lasts a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_module(name: str) -> ModuleType:
    """Import bench/<name>.py (bench is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


loadtest = load_module("loadtest")
chart = load_module("chart")


class FakeApi(BaseHTTPRequestHandler):
    """Just enough of the Tasks API: create, get, list, toggle; filters are a 422."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the load test expects

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drain(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        self._drain()
        self._send(201, {"id": str(uuid.uuid4()), "completed": False})

    def do_GET(self) -> None:
        if "?" in self.path:
            self._send(422, {"title": "Unprocessable", "status": 422})
        elif self.path.endswith("/tasks"):
            self._send(200, [{"id": str(uuid.uuid4()), "completed": True}])
        else:
            self._send(200, {"id": self.path.rsplit("/", 1)[-1]})

    def do_PATCH(self) -> None:
        self._drain()
        self._send(200, {"completed": True})


class Hangup(BaseHTTPRequestHandler):
    """Close every connection without answering: a crashing server."""

    def handle(self) -> None:
        self.connection.close()


@pytest.fixture
def serve() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    """Start fake servers on loopback ports of their own; shut them down afterwards."""
    servers = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_percentile_is_nearest_rank() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert loadtest.percentile_ms(seconds, 50) == 50.0
    assert loadtest.percentile_ms(seconds, 99) == 99.0
    assert loadtest.percentile_ms(seconds[:1], 99) == 1.0
    assert loadtest.percentile_ms([], 99) is None


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://192.168.1.2", "http://8.8.8.8"])
def test_remote_targets_are_refused(url: str) -> None:
    with pytest.raises(SystemExit, match="not a loopback"):
        loadtest.make_target(url, allow_remote=False, timeout=1.0)


def test_remote_target_allowed_on_request_is_not_pinned() -> None:
    target = loadtest.make_target("http://10.0.0.1:8000", allow_remote=True, timeout=1.0)
    assert target.connect_host == "10.0.0.1"


def test_loopback_target_is_pinned_and_keeps_its_prefix() -> None:
    target = loadtest.make_target("http://localhost:8100/svc/", allow_remote=False, timeout=1.0)
    assert loadtest.is_loopback(target.connect_host)
    assert target.host_header == "localhost:8100"
    assert target.path("/api/u/tasks") == "/svc/api/u/tasks"


def test_runs_longer_than_the_cap_are_refused() -> None:
    with pytest.raises(SystemExit):
        loadtest.parse_args(["http://127.0.0.1:1", "--duration", "100", "--max-total", "60"])


def test_full_run_writes_one_line_per_workload(serve, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(loadtest, "PAUSE_S", 0.0)
    out = tmp_path / "run.jsonl"
    argv = [serve(FakeApi), "--out", str(out), "--label", "fake", "--duration", "0.3"]
    argv += ["--warmup", "0", "--connections", "2", "--users", "2", "--tasks-per-user", "3"]
    argv += ["--workloads", ",".join(loadtest.WORKLOADS), "--max-total", "30"]

    assert loadtest.main(argv) == 0

    lines = [json.loads(raw) for raw in out.read_text().splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds == ["meta", "seed"] + ["workload"] * len(loadtest.WORKLOADS) + ["end"]
    assert all(line["label"] == "fake" for line in lines)
    assert lines[1]["created"] == 6
    runs = {line["workload"]: line for line in lines if line["kind"] == "workload"}
    for name in ("get", "list", "toggle", "create", "mixed"):
        assert runs[name]["requests"] > 0
        assert runs[name]["non_2xx"] == runs[name]["errors"] == 0
        assert runs[name]["p50_ms"] <= runs[name]["p99_ms"] <= runs[name]["max_ms"]
    assert runs["filter"]["non_2xx"] == runs["filter"]["requests"] > 0
    assert runs["filter"]["filter_check"] == "rejected (422)"
    assert "fake" in capsys.readouterr().out  # the table


def test_transport_errors_are_counted_and_backed_off(serve) -> None:
    target = loadtest.make_target(serve(Hangup), allow_remote=False, timeout=1.0)
    data = loadtest.Dataset(tasks=["/api/u/tasks/x"], lists=["/api/u/tasks"], creates=[])
    tally, elapsed, _, stuck = loadtest.measure(target, loadtest.pickers(data)["get"], 2, 0.3)
    assert tally.errors and not tally.latencies and stuck == 0
    # one error per ERROR_BACKOFF_S and connection at most, not a tight loop
    assert sum(tally.errors.values()) <= 2 * (elapsed / loadtest.ERROR_BACKOFF_S + 1)


def test_chart_reads_both_formats_and_draws(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    ours = tmp_path / "ours.jsonl"
    ours.write_text(
        json.dumps({"kind": "meta", "label": "svc"})
        + "\n"
        + json.dumps(
            {
                "kind": "workload",
                "label": "svc",
                "workload": "get",
                "connections": 8,
                "rps": 10.0,
                "p99_ms": 2.0,
                "non_2xx": 0,
                "errors": 0,
            }
        )
        + "\n"
    )
    kit = tmp_path / "results.jsonl"
    kit.write_text(
        "# split=none\n"
        + json.dumps({"kind": "meta"})
        + "\n"
        + json.dumps({"target": "pgbench", "workload": "get_one", "clients": 64, "tps": 1.0})
        + "\n"
        + json.dumps(
            {
                "target": "peer",
                "workload": "get",
                "connections": 64,
                "rps": 5.0,
                "lat_p99_ms": 4.0,
                "non2xx": 3,
                "err_connect": 0,
                "err_read": 0,
                "err_write": 0,
                "err_timeout": 0,
            }
        )
        + "\n"
    )
    names = chart.source_names([ours, kit])
    runs = chart.read_runs(ours, names[ours]) + chart.read_runs(kit, names[kit])
    assert [(r.label, r.workload, r.flagged) for r in runs] == [
        ("svc", "get", False),
        ("peer", "get", True),
    ]
    png = tmp_path / "chart.png"
    assert chart.main([str(ours), str(kit), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chart_separates_same_label_from_two_files(tmp_path) -> None:
    line = {"kind": "workload", "label": "svc", "workload": "get", "rps": 1.0, "p99_ms": 1.0}
    runs = [chart.parse_line(line, "a"), chart.parse_line(line, "b")]
    assert [r.label for r in chart.disambiguate(runs)] == ["svc [a]", "svc [b]"]
