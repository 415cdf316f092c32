"""/api/{user_id}/stats: counts over a user's tasks."""

from __future__ import annotations

import falcon

from service.data.listing import ListingStore


class TaskStats:
    """A user's task counts: total, completed, pending and overdue (one statement)."""

    def __init__(self, listing: ListingStore) -> None:
        self._listing = listing

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = self._listing.stats(user_id)
