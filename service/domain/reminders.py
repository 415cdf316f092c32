"""Reminder rules: the two forms, their bounds, and when a reminder is too old to fire."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

MAX_REMINDERS = 10
MAX_BEFORE_DUE = 40_320  # minutes: 28 days
# A reminder whose time passed longer ago than this (worker downtime, an `at` in the past)
# is marked missed instead of fired late.
LATE_WINDOW = timedelta(hours=24)
STATES = ("scheduled", "fired", "snoozed", "acknowledged", "missed")

Form = tuple[Any, int | None]


def form(reminder: Mapping[str, Any]) -> Form:
    """Return a reminder's form as (at, before_due), exactly one of them set."""
    return reminder.get("at"), reminder.get("before_due")


def plan_replacement(
    stored: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]
) -> tuple[list[Any], list[Form]]:
    """Return (ids to remove, forms to add) turning the stored set into the wanted one.

    A stored reminder whose form is wanted again keeps its id and state; each stored one
    matches at most one wanted one, so duplicates are kept as many times as they are sent.
    """
    to_add: list[Form] = []
    unmatched = list(stored)
    for item in wanted:
        wanted_form = form(item)
        for index, row in enumerate(unmatched):
            if form(row) == wanted_form:
                del unmatched[index]
                break
        else:
            to_add.append(wanted_form)
    return [row["id"] for row in unmatched], to_add
