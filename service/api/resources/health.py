"""Operational endpoints: /health and /readyz (database and schema), /livez (process only)."""

from __future__ import annotations

import falcon

from service.data.health import DatabaseHealth


class Health:
    """200 when the database answers and its schema is current, 503 otherwise."""

    def __init__(self, health: DatabaseHealth, retry_after_seconds: int) -> None:
        self._health = health
        self._retry_after = retry_after_seconds

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        healthy, report = self._health.check()
        resp.media = report
        if not healthy:
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", str(self._retry_after))
        resp.cache_control = ["no-store"]


class Liveness:
    """200 while the process can answer at all; touches no database."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}
        resp.cache_control = ["no-store"]
