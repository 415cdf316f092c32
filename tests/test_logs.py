"""The app's log lines are JSON objects that carry the request id of their request."""

from __future__ import annotations

import io
import json
import logging

from webtest import TestApp

from service.core.logs import JsonFormatter
from service.server.bootstrap import build
from tests.conftest import make_config


def test_a_log_line_written_during_a_request_is_json_with_its_request_id():
    rt = build(
        make_config(
            "postgresql://postgres@127.0.0.1:1/none", POOL_TIMEOUT="0.2", PG_CONNECT_TIMEOUT="1"
        )
    )
    rt.pool.open(wait=False)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        TestApp(rt.app).get(
            "/api/someone/tasks", headers={"X-Request-ID": "log-test-123"}, status=503
        )
        # Outside any request the id is null again.
        logging.getLogger("service.test").warning("after the request")
    finally:
        root.removeHandler(handler)
        rt.stop()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    during = [e for e in entries if e["logger"] == "service.api.errors"]
    assert during, entries
    assert during[0]["request_id"] == "log-test-123"
    assert during[0]["level"] == "WARNING"
    assert {"time", "message"} <= during[0].keys()
    after = [e for e in entries if e["logger"] == "service.test"]
    assert after[0]["request_id"] is None


def _format(**extra) -> dict:
    record = logging.getLogger("service.test").makeRecord(
        "service.test", logging.INFO, "", 0, "hello %s", ("there",), None, extra=extra
    )
    return json.loads(JsonFormatter().format(record))


def test_extra_attributes_become_fields_of_the_line():
    line = _format(route="/x", status=200)
    assert (line["message"], line["route"], line["status"]) == ("hello there", "/x", 200)


def test_fields_passed_as_one_dict_are_added_as_they_are_without_overriding_the_basics():
    line = _format(json_fields={"method": "GET", "status": 204, "level": "forged"})
    assert (line["method"], line["status"], line["level"]) == ("GET", 204, "INFO")
    assert "json_fields" not in line
