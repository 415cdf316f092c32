"""A recurring task's completions: /tasks/{task_id}/completions and .../completions/latest."""

from __future__ import annotations

from uuid import UUID

import falcon

from service.api.conditional import if_match_versions
from service.api.representation import send_task
from service.data.recurrence import NothingToUndo
from service.data.tasks import TaskStore

NOT_FOUND = "No such task."
NOTHING_TO_UNDO = "The task has no completion to undo."


class TaskCompletions:
    """The completed occurrences of one task, newest first: `{occurrence_due, completed_at}`."""

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        rows = self._store.recurrence.completions(user_id, task_id)
        if rows is None:
            # The same answer whether the task never existed or belongs to someone else.
            raise falcon.HTTPNotFound(description=NOT_FOUND)
        resp.media = rows


class LatestCompletion:
    """The latest completion of a task: DELETE undoes it (the due moves back), answers the task."""

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: str, task_id: UUID
    ) -> None:
        try:
            row = self._store.undo_latest_completion(user_id, task_id, if_match_versions(req))
        except NothingToUndo:
            raise falcon.HTTPNotFound(description=NOTHING_TO_UNDO) from None
        if row is None:
            raise falcon.HTTPNotFound(description=NOT_FOUND)
        send_task(req, resp, row)
