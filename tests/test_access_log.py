"""gunicorn's access line (service.server.gunicorn_logs.JsonLogger): one JSON object per request.

The shipped configuration (plain stream handlers with JsonFormatter) gets the line written
directly; any other set-up goes through a LogRecord and the handler chain. Both must write
the same line.
"""

from __future__ import annotations

import datetime
import io
import json
import logging

import pytest
from gunicorn.config import Config as GunicornConfig

from service.core.logs import JsonFormatter
from service.server.gunicorn_logs import JsonLogger, _plain_json_handlers, redact_query


class Response:
    status = "201 Created"
    sent = 321
    headers = (("Content-Type", "application/json"), ("X-Request-ID", "req-42"))


ENVIRON = {
    "REQUEST_METHOD": "POST",
    "PATH_INFO": "/api/u1/tasks",
    "QUERY_STRING": "",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_USER_AGENT": "tests/1",
}


def _logger(handler: logging.Handler) -> JsonLogger:
    """A JsonLogger (set up as gunicorn does) whose access line goes to `handler` only."""
    cfg = GunicornConfig()
    cfg.set("accesslog", "-")
    logger = JsonLogger(cfg)
    handler.setFormatter(JsonFormatter())
    logger.access_log.handlers = [handler]
    logger._plain_handlers = _plain_json_handlers(logger.access_log)
    return logger


def _access_line(logger: JsonLogger, stream: io.StringIO) -> dict:
    logger.access(Response(), None, ENVIRON, datetime.timedelta(milliseconds=12.5))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


class Filtered(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return True


@pytest.fixture
def direct_and_record_lines() -> tuple[dict, dict]:
    direct_stream = io.StringIO()
    direct = _logger(logging.StreamHandler(direct_stream))
    assert direct._plain_handlers is not None, "the shipped set-up takes the direct path"

    record_stream = io.StringIO()
    handler = logging.StreamHandler(record_stream)
    handler.addFilter(Filtered())
    via_record = _logger(handler)
    assert via_record._plain_handlers is None, "a filter needs the record"
    return _access_line(direct, direct_stream), _access_line(via_record, record_stream)


def test_the_access_line_carries_the_request_and_its_answer(direct_and_record_lines):
    line, _ = direct_and_record_lines
    assert line["logger"] == "gunicorn.access" and line["level"] == "INFO"
    assert line["message"] == "POST /api/u1/tasks 201"
    assert line["request_id"] == "req-42"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/u1/tasks", 201)
    assert (line["duration_ms"], line["bytes"], line["query"]) == (12.5, 321, None)
    assert (line["remote"], line["user_agent"]) == ("127.0.0.1", "tests/1")


def test_the_direct_line_is_the_line_the_record_path_writes(direct_and_record_lines):
    direct, via_record = direct_and_record_lines
    direct.pop("time"), via_record.pop("time")
    assert direct == via_record
    assert list(direct) == list(via_record), "same fields in the same order"


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("limit=1&access_token=abc", "limit=1&access_token=[redacted]"),
        ("ACCESS_TOKEN=x;api_key=y", "ACCESS_TOKEN=[redacted];api_key=[redacted]"),
        (
            "id_token=1&refresh_token=2&key=3",
            "id_token=[redacted]&refresh_token=[redacted]&key=[redacted]",
        ),
        (
            "password=p&client-secret=s&sig=z",
            "password=[redacted]&client-secret=[redacted]&sig=[redacted]",
        ),
        # Values that merely look like a secret's name, and names that only end like one.
        ("q=token&cursor=abc.def&monkey=1&hotkey=2", "q=token&cursor=abc.def&monkey=1&hotkey=2"),
        ("", None),
    ],
)
def test_credentials_in_the_query_string_are_redacted(query, logged):
    assert redact_query(query) == logged
    stream = io.StringIO()
    logger = _logger(logging.StreamHandler(stream))
    logger.access(Response(), None, {**ENVIRON, "QUERY_STRING": query}, datetime.timedelta(0))
    assert json.loads(stream.getvalue())["query"] == logged
