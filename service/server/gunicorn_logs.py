"""gunicorn's logger with a structured access line; gunicorn.conf.py makes it the logger_class.

gunicorn.conf.py's `logconfig_dict` sends gunicorn's error and access loggers through
`service.core.logs.JsonFormatter`, so every line gunicorn writes is a JSON object like the app's.
gunicorn's own access line is one %-formatted string; this logger puts the fields in the JSON
object instead (method, path, status, duration, request id, remote address, user agent), and
builds only those, not gunicorn's dictionary of every header and environ variable.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from typing import Any

from gunicorn import glogging

from service.core.logs import (
    FIELDS,
    JsonFormatter,
    dump_line,
    install_request_id_factory,
    json_entry,
    request_id_var,
)

# Query parameters that carry credentials (OAuth's access_token, API keys, signatures...):
# their values never reach a log. Matched on the parameter name, case-insensitively.
_SECRET_PARAM = re.compile(
    r"(?i)(?:^|(?<=[&;]))((?:[a-z0-9_.-]*[_.-])?(?:token|key|apikey|secret|password|passwd|"
    r"pwd|signature|sig|auth|authorization|jwt|session|sessionid|code|credential|credentials)"
    r"(?:%5B%5D)?=)[^&;]*"
)


# Substrings of every name _SECRET_PARAM matches: a query with none of them (nearly every
# query) is logged as it is without running the regex, which costs ~7 us a line.
_SECRET_HINTS = (
    "token",
    "key",
    "secret",
    "pass",
    "pwd",
    "sig",
    "auth",
    "jwt",
    "session",
    "code",
    "credential",
)


def redact_query(query: str | None) -> str | None:
    """Return the query string with the values of credential-like parameters replaced."""
    if not query:
        return None
    lowered = query.lower()
    for hint in _SECRET_HINTS:
        if hint in lowered:
            return _SECRET_PARAM.sub(r"\1[redacted]", query)
    return query


class JsonLogger(glogging.Logger):
    """gunicorn's Logger whose access() logs structured fields for the JSON formatter."""

    def setup(self, cfg: Any) -> None:
        """Configure gunicorn's loggers; stamp records with the request id like the app's."""
        install_request_id_factory()
        super().setup(cfg)
        self._plain_handlers: list[logging.StreamHandler] | None = _plain_json_handlers(
            self.access_log
        )

    def access(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta
    ) -> None:
        """Log one access line: the request, its answer and how long it took."""
        if not self.cfg.accesslog:
            return
        log = self.access_log
        if not log.isEnabledFor(logging.INFO):
            return
        status = resp.status
        if isinstance(status, str):
            status = int(status.split(None, 1)[0])
        request_id = None
        for name, value in resp.headers:
            if name.lower() == "x-request-id":
                request_id = value
                break
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO")
        fields = {
            "method": method,
            "path": path,
            "query": redact_query(environ.get("QUERY_STRING")),
            "status": status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        try:
            handlers = getattr(self, "_plain_handlers", None)
            if handlers is not None:
                message = f"{method} {path} {status}"
                _write_line(handlers, log.name, message, request_id, fields)
            else:
                _log_record(log, (method, path, status), request_id, fields)
        except Exception:
            self.exception("writing the access log failed")


def _write_line(
    handlers: list[logging.StreamHandler],
    logger: str,
    message: str,
    request_id: str | None,
    fields: dict[str, Any],
) -> None:
    """Write the line JsonFormatter would make of the record, as StreamHandler.emit would.

    Without building the record: a LogRecord, its request-id stamp and the handler chain
    were most of the line's cost, once per request.
    """
    entry = json_entry(time.time(), "INFO", logger, message, request_id)
    for key, value in fields.items():
        entry.setdefault(key, value)
    line = dump_line(entry)
    for handler in handlers:
        handler.acquire()
        try:
            handler.stream.write(line + handler.terminator)
            handler.stream.flush()
        finally:
            handler.release()


def _log_record(
    log: logging.Logger, args: tuple[Any, ...], request_id: str | None, fields: dict[str, Any]
) -> None:
    """Log the access line as a record "method path status" through the handler chain."""
    # The app reset its request id when the response left it; the record factory stamps
    # the one the response carries.
    token = request_id_var.set(request_id)
    try:
        # Straight to the handlers: Logger.info would also walk the stack for the caller's
        # file and line, which the JSON line does not show.
        record = log.makeRecord(
            log.name, logging.INFO, "", 0, "%s %s %s", args, None, extra={FIELDS: fields}
        )
        log.handle(record)
    finally:
        request_id_var.reset(token)


def _plain_json_handlers(log: logging.Logger) -> list[logging.StreamHandler] | None:
    """Return the logger's handlers if a line may be written to them without a record.

    That holds for the shipped configuration: plain stream or file handlers with
    JsonFormatter, no filters, on a logger that does not propagate. Any other set-up
    (syslog, a custom handler or filter) gets the full record path.
    """
    handlers = log.handlers
    if not handlers or log.filters or log.propagate:
        return None
    for handler in handlers:
        plain = type(handler) in (logging.StreamHandler, logging.FileHandler)
        if not plain or handler.filters or not isinstance(handler.formatter, JsonFormatter):
            return None
        if handler.level > logging.INFO or getattr(handler, "stream", None) is None:
            return None
    return list(handlers)
