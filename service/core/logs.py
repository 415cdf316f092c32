"""Structured logging: one JSON object per line, carrying the request id of the request."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# A logger may pass its fields as one dict, `extra={FIELDS: {...}}`: the formatter then
# adds them as they are instead of scanning every attribute of the record for extras (the
# access line does, once per request).
FIELDS = "json_fields"

# Attributes every LogRecord has; anything else was passed through `extra=` and is kept.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "request_id",
    FIELDS,
}


def install_request_id_factory() -> None:
    """Stamp every record, for every handler, with the current request id (None outside one)."""
    base_factory = logging.getLogRecordFactory()
    if getattr(base_factory, "_stamps_request_id", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = base_factory(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def json_entry(
    created: float, level: str, logger: str, message: str, request_id: str | None
) -> dict[str, Any]:
    """Return the fields every line starts with: time, level, logger, message, request id."""
    return {
        "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": message,
        "request_id": request_id,
    }


def dump_line(entry: dict[str, Any]) -> str:
    """Serialize one line's fields (anything orjson cannot, as its str())."""
    return orjson.dumps(entry, default=str).decode()


class JsonFormatter(logging.Formatter):
    """Format a record as a single JSON line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = json_entry(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "request_id", None),
        )
        fields = record.__dict__.get(FIELDS)
        if fields is not None:
            for key, value in fields.items():
                entry.setdefault(key, value)
        else:
            for key, value in vars(record).items():
                if key not in _STANDARD_ATTRS and key not in entry:
                    entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dump_line(entry)


def configure_logging(level: str = "INFO") -> None:
    """Send JSON lines to stderr for the root logger (idempotent)."""
    install_request_id_factory()
    root = logging.getLogger()
    for handler in root.handlers:
        # Ours, or one gunicorn's logconfig_dict (gunicorn.conf.py) set up with our formatter.
        if getattr(handler, "_tasks_json", False) or isinstance(handler.formatter, JsonFormatter):
            root.setLevel(level)
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._tasks_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
