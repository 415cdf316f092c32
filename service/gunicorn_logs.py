"""gunicorn's logger with a structured access line; gunicorn.conf.py makes it the logger_class.

gunicorn.conf.py's `logconfig_dict` sends gunicorn's error and access loggers through
`service.logs.JsonFormatter`, so every line gunicorn writes is a JSON object like the app's.
gunicorn's own access line is one %-formatted string; this logger puts the fields in the JSON
object instead (method, path, status, duration, request id, remote address, user agent), and
builds only those, not gunicorn's dictionary of every header and environ variable.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from gunicorn import glogging

from service.logs import FIELDS, install_request_id_factory, request_id_var


class JsonLogger(glogging.Logger):
    """gunicorn's Logger whose access() logs structured fields for the JSON formatter."""

    def setup(self, cfg: Any) -> None:
        """Configure gunicorn's loggers; stamp records with the request id like the app's."""
        install_request_id_factory()
        super().setup(cfg)

    def access(
        self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta
    ) -> None:
        """Log one access line: the request, its answer and how long it took."""
        if not self.cfg.accesslog:
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
            "query": environ.get("QUERY_STRING") or None,
            "status": status,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        # The app reset its request id when the response left it; the record factory
        # stamps the one the response carries.
        token = request_id_var.set(request_id)
        log = self.access_log
        try:
            if log.isEnabledFor(logging.INFO):
                # Straight to the handlers: Logger.info would also walk the stack for the
                # caller's file and line, which the JSON line does not show (a few us of
                # every request's CPU).
                record = log.makeRecord(
                    log.name,
                    logging.INFO,
                    "",
                    0,
                    "%s %s %s",
                    (method, path, status),
                    None,
                    extra={FIELDS: fields},
                )
                log.handle(record)
        except Exception:
            self.exception("writing the access log failed")
        finally:
            request_id_var.reset(token)
