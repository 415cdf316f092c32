"""/api/{user_id}/settings: the user's default time zone and first day of the week."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import falcon
from marshmallow import Schema

from service.api.schemas import settings_schema
from service.data.settings import SettingsStore


class UserSettings:
    """Read or change a user's settings (GET always answers: defaults until changed)."""

    schemas: ClassVar[Mapping[str, Schema]] = {"PATCH": settings_schema}

    def __init__(self, store: SettingsStore) -> None:
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = self._store.get(user_id)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        resp.media = self._store.update(user_id, req.context.body)
