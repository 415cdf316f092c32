"""A newcomer's first mistakes explain themselves: one line naming what is wrong, a non-zero
exit, never a traceback; `make stop` stops what `make run` left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "CURSOR_"))}
    env.pop("DATABASE_URL", None)
    env.update(overrides)
    return env


def _one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Assert a run failed with a single line of explanation; return that line."""
    assert result.returncode != 0
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    return output


def _migrate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.server.migrate", "status"],
        cwd=tmp_path,  # no .env there
        env={**_env(**env), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _gunicorn(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "service.wsgi:app"],
        cwd=ROOT,
        env=_env(PORT="8189", HOST="127.0.0.1", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_without_database_url_says_what_to_set(tmp_path: Path) -> None:
    line = _one_line_failure(_migrate(tmp_path))
    assert line.startswith("configuration error: DATABASE_URL is not set")
    assert "postgresql://" in line


def test_migrate_with_a_url_that_is_not_one(tmp_path: Path) -> None:
    line = _one_line_failure(_migrate(tmp_path, DATABASE_URL="tasks-db:5432"))
    assert "DATABASE_URL must be a URL" in line
    assert "tasks-db" not in line  # the value may hold a password: never echoed


def test_migrate_against_an_unreachable_database(tmp_path: Path) -> None:
    line = _one_line_failure(
        _migrate(tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    )
    assert line.startswith("cannot reach the database:")


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("JWT_SECRET", "short", "configuration error: JWT_SECRET must be at least 32 bytes"),
        ("TIMEOUT", "ten", "configuration error: TIMEOUT must be an integer"),
        ("WORKER_CLASS", "fast", "configuration error: WORKER_CLASS must be"),
        ("LOG_LEVEL", "loud", "configuration error: LOG_LEVEL must be"),
        ("POOL_MAX_SIZE", "0", "configuration error: POOL_MAX_SIZE must be at least 1"),
        ("CURSOR_SECRET", "short", "configuration error: CURSOR_SECRET must be at least 16"),
    ],
)
def test_gunicorn_refuses_a_bad_setting_in_one_line(
    tmp_path: Path, setting: str, value: str, expected: str
) -> None:
    result = _gunicorn(
        tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none", **{setting: value}
    )
    assert _one_line_failure(result).startswith(expected)


def test_gunicorn_against_an_unreachable_database_ends_in_one_line(tmp_path: Path) -> None:
    result = _gunicorn(tmp_path, DATABASE_URL="postgresql://postgres@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cannot start: cannot reach the database:")


def test_web_concurrency_is_checked_before_gunicorn_reads_it(tmp_path: Path) -> None:
    # gunicorn itself fails with a traceback on this one, so `make run` checks it first.
    line = _one_line_failure(
        _migrate(tmp_path, DATABASE_URL="postgresql://x/y", WEB_CONCURRENCY="x")
    )
    assert line == "configuration error: WEB_CONCURRENCY must be an integer, got 'x'"


def _make_stop(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "stop", "VENV=none", "STOP_WAIT=10"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_stop_stops_every_process_make_run_left_a_pid_file_for(tmp_path: Path) -> None:
    run_dir = tmp_path / ".run"
    run_dir.mkdir()
    # A stand-in for gunicorn or the worker: its command line names the service, as theirs do.
    worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "service.worker"]
    )
    (run_dir / "worker.pid").write_text(f"{worker.pid}\n")
    # A stale pid file whose process is gone (or was never ours) is removed, nothing killed.
    (run_dir / "gunicorn.pid").write_text("999999999\n")
    started = time.monotonic()
    result = _make_stop(tmp_path)
    assert result.returncode == 0, result.stderr
    assert worker.wait(timeout=5) == -signal.SIGTERM
    assert time.monotonic() - started < 10
    assert "stopping worker" in result.stdout
    assert not list(run_dir.glob("*.pid"))


def test_make_stop_with_nothing_running_succeeds(tmp_path: Path) -> None:
    result = _make_stop(tmp_path)
    assert result.returncode == 0, result.stderr
