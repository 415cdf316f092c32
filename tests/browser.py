"""Headless Chromium against real HTTP servers on 127.0.0.1, for tests of what a browser does."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def chromium_or_skip() -> str:
    """Return the Chromium executable, or skip the test saying how to get one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")


def dump_dom(url: str, budget_ms: int = 15_000) -> str:
    """Load `url` in a fresh headless Chromium profile and return the DOM after scripts ran."""
    chromium = chromium_or_skip()
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class _RecordingHandler(WSGIRequestHandler):
    """Remember each request as "METHOD /path" instead of logging it to stderr."""

    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:
        self.requests.append(f"{self.command} {self.path}")


@contextmanager
def serve(app: Callable) -> Iterator[tuple[str, list[str]]]:
    """Serve a WSGI app on 127.0.0.1 (an ephemeral port); yield (base URL, requests seen)."""
    requests: list[str] = []
    handler = type("Handler", (_RecordingHandler,), {"requests": requests})
    server = make_server("127.0.0.1", 0, app, handler_class=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
