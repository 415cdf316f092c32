"""Where the service listens: loopback by default while nobody is authenticated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.core.config import PROJECT_ROOT
from service.server.binding import default_bind, reachable_from_outside
from tests.conftest import via_pgbouncer


@pytest.mark.parametrize(
    ("environ", "authenticated", "expected"),
    [
        ({}, False, "127.0.0.1:8000"),
        ({"PORT": "9000"}, False, "127.0.0.1:9000"),
        ({}, True, "0.0.0.0:8000"),
        ({"HOST": "0.0.0.0"}, False, "0.0.0.0:8000"),
        ({"HOST": "::", "PORT": "81"}, False, "[::]:81"),
        ({"BIND": "unix:/run/tasks.sock", "HOST": "0.0.0.0"}, False, "unix:/run/tasks.sock"),
        ({"HOST": "", "BIND": ""}, False, "127.0.0.1:8000"),
    ],
)
def test_default_bind(environ, authenticated, expected):
    assert default_bind(environ, authenticated=authenticated) == expected


def test_which_binds_other_hosts_can_reach():
    local = ["127.0.0.1:8000", "127.0.0.5:1", "[::1]:8000", "localhost:8000", "unix:/x.sock"]
    assert reachable_from_outside(local) == []
    exposed = ["0.0.0.0:8000", "[::]:8000", "192.0.2.1:80", "tasks.example:80"]
    assert reachable_from_outside(exposed) == exposed


def _gunicorn(database_url: str, logs: Path, **settings: str) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"HOST", "BIND", "PROMETHEUS_MULTIPROC_DIR"} and not k.startswith("JWT_")
    }
    env.update(DATABASE_URL=via_pgbouncer(database_url), WEB_CONCURRENCY="1", **settings)
    with logs.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.wsgi:app"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def _messages(logs: Path) -> list[dict]:
    return [json.loads(line) for line in logs.read_text().splitlines() if line.startswith("{")]


def _wait_for_message(process: subprocess.Popen, logs: Path, text: str) -> dict | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in _messages(logs):
            if text in entry.get("message", ""):
                return entry
        if process.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_without_authentication_or_host_it_listens_on_loopback_only(database_url, tmp_path):
    logs = tmp_path / "error.log"
    process = _gunicorn(database_url, logs, PORT="0")
    try:
        listening = _wait_for_message(process, logs, "Listening at:")
        assert listening is not None, logs.read_text()
        assert listening["message"].startswith("Listening at: http://127.0.0.1:")
        assert not [e for e in _messages(logs) if "any caller" in e["message"]]
    finally:
        _stop(process)


@pytest.mark.slow
def test_an_explicit_host_without_authentication_is_warned_about(database_url, tmp_path):
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the warning comes at start, before
    # gunicorn tries (and fails) to bind, so nothing ever listens beyond loopback.
    logs = tmp_path / "error.log"
    process = _gunicorn(database_url, logs, HOST="192.0.2.1", PORT="0")
    try:
        warning = _wait_for_message(process, logs, "any caller")
        assert warning is not None, logs.read_text()
        assert warning["level"] == "WARNING"
        assert "192.0.2.1" in warning["message"]
        assert "can act as any user" in warning["message"]
    finally:
        _stop(process)
