"""Marshmallow schemas: what clients may send, validated strictly at the edge.

Types are strict (no "5" for 5, no 1 for true), unknown fields are rejected, and the
read-only fields a client may echo back from a GET are dropped before validation.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from service.domain.recurrence import BASES, MAX_RULE_LENGTH, RecurrenceError, parse_rule
from service.domain.reminders import MAX_BEFORE_DUE, MAX_REMINDERS, STATES
from service.domain.zones import MAX_ZONE_LENGTH, is_valid_zone

READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "user_id",
        "completed_at",
        "url",
        "version",
        "created_at",
        "updated_at",
        "position",
        "deleted_at",
    }
)
LIST_READ_ONLY_FIELDS = frozenset(
    {"id", "user_id", "position", "open_count", "version", "created_at", "updated_at", "url"}
)
SETTINGS_READ_ONLY_FIELDS = frozenset({"user_id", "updated_at"})
PRIORITIES = ("low", "normal", "high")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Control characters (Unicode category Cc). Descriptions may keep tab, LF and CR.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s")


class StrictBoolean(fields.Boolean):
    """A JSON true or false, nothing that merely looks like one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInteger(fields.Integer):
    """A JSON integer: no strings, no fractions, no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class CleanText(fields.String):
    """A string without control characters (or only the allowed ones), optionally trimmed."""

    default_error_messages = {"control": "Must not contain control characters."}

    def __init__(self, *, trim: bool = True, allow_line_breaks: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self._trim = trim
        self._forbidden = _CONTROL_EXCEPT_WHITESPACE if allow_line_breaks else _CONTROL
        if allow_line_breaks:
            self.error_messages["control"] = (
                "Must not contain control characters other than tab, line feed and carriage return."
            )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self._forbidden.search(text):
            raise self.make_error("control")
        return text.strip() if self._trim else text


# For the OpenAPI document: one run of non-space characters, spaces around it trimmed.
TAG_PATTERN = r"^\s*\S+\s*$"


class TrimmedLength(validate.Length):
    """A length bound on text the schema trimmed first, saying so when the text is too short.

    A subclass of Length, so that the OpenAPI document still shows minLength and maxLength.
    """

    def __call__(self, value: Any) -> Any:
        """Check the trimmed length, with a message that says what to send."""
        if self.min is not None and len(value) < self.min:
            if not value:
                raise ValidationError("Must not be empty; it is empty after trimming spaces.")
            raise ValidationError(f"Must be at least {self.min} characters after trimming spaces.")
        if self.max is not None and len(value) > self.max:
            raise ValidationError(f"Must be at most {self.max} characters after trimming spaces.")
        return value


class Tag(CleanText):
    """One tag: trimmed, lower-cased, 1-32 characters, no whitespace inside."""

    default_error_messages = {"whitespace": "Must not contain whitespace."}

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "description": "Trimmed and lower-cased; then 1-32 characters, no whitespace "
            "inside, no control characters.",
            "pattern": TAG_PATTERN,
            "example": "home",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(validate=TrimmedLength(min=1, max=32), metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        tag = super()._deserialize(value, attr, data, **kwargs).lower()
        if _WHITESPACE.search(tag):
            raise self.make_error("whitespace")
        return tag


# RFC 3339 section 5.6 date-time, and nothing else that datetime.fromisoformat would take
# (week dates, ordinal dates, compact forms, offsets with seconds): at most microseconds.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339_PATTERN, re.ASCII)
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?", re.ASCII)
# What a raw "+01:00" becomes in a query string: the "+" arrives as a space.
_PLUS_AS_SPACE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)? \d{2}:\d{2}", re.ASCII
)
_TOO_PRECISE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}\.\d{7,}(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
EXAMPLE_TIMESTAMP = "2026-01-24T10:00:00Z"


class UtcDateTime(fields.AwareDateTime):
    """An RFC 3339 timestamp that must carry an offset; converted to UTC.

    Only RFC 3339's own form is taken, with at most 6 fractional digits (the microseconds
    PostgreSQL stores): more digits are refused rather than silently cut. Each message says
    what to send instead.
    """

    default_error_messages = {
        "invalid": "{name} must be an RFC 3339 timestamp with an offset, e.g. {example}.",
        "naive": "{name} needs a UTC offset, e.g. {example}.",
        "plus_as_space": (
            "{name} looks like a timestamp whose '+' arrived as a space: in a URL write "
            "'+' as %2B, e.g. 2026-01-24T10:00:00%2B01:00."
        ),
        "precision": (
            "{name} takes at most 6 fractional digits of a second (microseconds), "
            "e.g. 2026-01-24T10:00:00.123456Z."
        ),
        "range": "{name} must be between years 1 and 9999 in UTC.",
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "pattern": RFC3339_PATTERN,
            "example": "2027-01-24T09:00:00Z",
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _fail(self, key: str, attr: str | None) -> ValidationError:
        name = self.data_key or attr or self.name or "timestamp"
        return self.make_error(key, name=name, example=EXAMPLE_TIMESTAMP)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            text = value if isinstance(value, str) else ""
            if _NAIVE.fullmatch(text):
                raise self._fail("naive", attr)
            if _PLUS_AS_SPACE.fullmatch(text):
                raise self._fail("plus_as_space", attr)
            if _TOO_PRECISE.fullmatch(text):
                raise self._fail("precision", attr)
            raise self._fail("invalid", attr)
        try:
            moment = datetime.fromisoformat(value.upper())
        except ValueError:  # month 13, hour 24, February 30...
            raise self._fail("invalid", attr) from None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise self._fail("range", attr) from None


_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


class StrictUUID(fields.UUID):
    """A UUID in its canonical 8-4-4-4-12 hex form (either case)."""

    default_error_messages = {
        "invalid": "Must be a UUID, e.g. 0b9e2c4e-5f0e-4b8e-9d3a-1c2b3d4e5f60."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> uuid.UUID:
        if not isinstance(value, str) or not _CANONICAL_UUID.fullmatch(value):
            raise self.make_error("invalid")
        return uuid.UUID(value)


class CalendarDate(fields.Date):
    """A calendar date written YYYY-MM-DD."""

    default_error_messages = {"invalid": "Must be a date written YYYY-MM-DD, e.g. 2026-01-24."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None


class TimeZoneName(fields.String):
    """An IANA time zone name of the zone database the service ships (e.g. Europe/Berlin)."""

    default_error_messages = {
        "zone": "Must be an IANA time zone name, e.g. Europe/Berlin or America/New_York."
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        name = super()._deserialize(value, attr, data, **kwargs)
        if len(name) > MAX_ZONE_LENGTH or not is_valid_zone(name):
            raise self.make_error("zone")
        return name


class Color(fields.String):
    """A colour written #rrggbb; stored lower-cased."""

    default_error_messages = {"color": "Must be a colour written #rrggbb, e.g. #1e90ff."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _COLOR.fullmatch(text):
            raise self.make_error("color")
        return text.lower()


RULE_DESCRIPTION = (
    "RFC 5545 RRULE text (an `RRULE:` prefix is accepted) limited to FREQ "
    "(DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL (1-1000), BYDAY (ordinals such as `-1FR` "
    "only with MONTHLY or YEARLY), BYMONTHDAY (negative from the month's end; not with "
    "WEEKLY), BYMONTH, BYSETPOS, WKST, and COUNT or UNTIL (never both); anything else is a "
    "422 naming `recurrence.rule`. Returned as sent."
)
BASIS_DESCRIPTION = (
    "`due` (default): completing moves the task to the next occurrence after its current "
    "due that is not yet past. `completion`: the series restarts on the local day of the "
    "completion and the task moves to its first occurrence on a later day."
)
RECURRENCE_DESCRIPTION = (
    "Null, or the task's recurrence. A recurring task needs `due_at` or `due_date`. "
    "Occurrences are computed on local wall time in the task's zone (09:00 stays 09:00 "
    "across DST; a wall time in a gap moves forward by the gap, an ambiguous one takes its "
    "first instant, for that occurrence only). Completing a recurring task (every path: "
    "toggle, set, PUT/PATCH, bulk) completes the current occurrence: the same task stays "
    "open, moves to the next occurrence and reopens its sub-tasks, and a completion record "
    "is kept; when COUNT or UNTIL is used up the task is completed for good. In a PATCH the "
    "object merges (a missing `rule` keeps the current one)."
)


class RecurrenceWrite(Schema):
    """A task's recurrence: RRULE text of the supported subset and the basis of the next due.

    In a partial (PATCH) load both fields are optional: the object merges with the task's
    current recurrence (a missing rule keeps the current one; see service/data/tasks.py).
    """

    class Meta:
        unknown = RAISE

    rule = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_RULE_LENGTH),
        metadata={"description": RULE_DESCRIPTION, "example": "FREQ=WEEKLY;BYDAY=MO,TH"},
    )
    basis = fields.String(
        load_default="due",
        validate=validate.OneOf(BASES),
        metadata={"description": BASIS_DESCRIPTION},
    )

    @validates("rule")
    def check_rule(self, value: str, **kwargs: Any) -> None:
        """Refuse anything outside the contract's RRULE subset, saying what."""
        try:
            parse_rule(value)
        except RecurrenceError as error:
            raise ValidationError(str(error)) from None


REMINDER_READ_ONLY_FIELDS = frozenset({"id", "fire_at", "state", "fired_at", "task_id"})
REMINDERS_DESCRIPTION = (
    'Up to 10 reminders, each exactly one of `{"at": timestamp}` or `{"before_due": '
    "minutes 0-40320}` (relative ones need `due_at` or `due_date`, the start of that day in "
    "the task's zone, and follow the due when it moves or recurs). Setting `reminders` "
    "replaces the task's set; a reminder sent again unchanged keeps its `id` and `state`. "
    "As returned, each also has `id`, `fire_at` (UTC), `state` and `fired_at`."
)


class ReminderWrite(Schema):
    """One reminder of a task: an instant (`at`) or minutes before the task's due."""

    class Meta:
        unknown = RAISE

    at = UtcDateTime(allow_none=True, metadata={"description": "When to fire (absolute)."})
    before_due = StrictInteger(
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_BEFORE_DUE),
        metadata={"description": "Minutes before the task's due (relative).", "example": 30},
    )

    @pre_load
    def drop_read_only_fields(self, data: Any, **kwargs: Any) -> Any:
        """Ignore server-set fields, so a client may send back what it read."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in REMINDER_READ_ONLY_FIELDS}
        return data

    @validates_schema
    def exactly_one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse a reminder with both forms or neither."""
        given = [name for name in ("at", "before_due") if data.get(name) is not None]
        if len(given) != 1:
            raise ValidationError("Give exactly one of at (a timestamp) or before_due (minutes).")

    @post_load
    def drop_nulls(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Keep only the form that was given."""
        return {k: v for k, v in data.items() if v is not None}


class ReminderSnooze(Schema):
    """Snooze a reminder until an instant: it fires once more then."""

    class Meta:
        unknown = RAISE

    until = UtcDateTime(required=True, metadata={"description": "When the reminder fires again."})


class ReminderQuery(Schema):
    """The reminder list's query: an optional state."""

    class Meta:
        unknown = RAISE

    state = fields.String(
        load_default=None,
        validate=validate.OneOf(STATES),
        metadata={"description": "Only this state."},
    )


class TaskWrite(Schema):
    """The writable fields of a task: all of them on create, any of them on update."""

    class Meta:
        unknown = RAISE

    title = CleanText(required=True, validate=TrimmedLength(min=1, max=200))
    description = CleanText(
        allow_none=True, trim=False, allow_line_breaks=True, validate=validate.Length(max=1000)
    )
    completed = StrictBoolean()
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    due_at = UtcDateTime(allow_none=True)
    tags = fields.List(Tag(), validate=validate.Length(max=20))
    order = StrictInteger(allow_none=True, validate=validate.Range(min=INT32_MIN, max=INT32_MAX))
    list_id = StrictUUID(allow_none=True)
    parent_id = StrictUUID(allow_none=True)
    time_zone = TimeZoneName(allow_none=True)
    due_date = CalendarDate(allow_none=True)
    recurrence = fields.Nested(
        RecurrenceWrite, allow_none=True, metadata={"description": RECURRENCE_DESCRIPTION}
    )
    reminders = fields.List(
        fields.Nested(ReminderWrite),
        validate=validate.Length(max=MAX_REMINDERS),
        metadata={"description": REMINDERS_DESCRIPTION},
    )

    @pre_load
    def drop_read_only_fields(self, data: Any, **kwargs: Any) -> Any:
        """Ignore server-set fields, so a client may send back what it read."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_FIELDS}
        return data

    @validates_schema
    def one_form_of_due(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Reject a due given both as an instant and as an all-day date."""
        if data.get("due_at") is not None and data.get("due_date") is not None:
            raise ValidationError(
                "Give due_at (a moment) or due_date (an all-day date), not both.", "due_date"
            )

    @validates_schema
    def require_some_field(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> None:
        """Reject an update that names no field at all."""
        if partial and not data:
            raise ValidationError("No fields to update.")

    @post_load
    def normalise_tags(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Store tags de-duplicated and sorted."""
        if "tags" in data:
            data["tags"] = sorted(set(data["tags"]))
        return data


class CompletionWrite(Schema):
    """The optional body of PATCH .../complete: sets the flag instead of toggling it."""

    class Meta:
        unknown = RAISE

    completed = StrictBoolean(required=True)


class QueryInteger(fields.Integer):
    """An integer written in plain ASCII digits in a query string."""

    _digits = re.compile(r"-?[0-9]{1,18}")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not self._digits.fullmatch(value):
            raise self.make_error("invalid")
        return int(value)


# Distinct search terms a listing may ask for. Each costs the database one ILIKE per task it
# scans, and a search that matches little scans all of a user's tasks: on 100k tasks each
# term adds about 30 ms (bench: 8 terms 0.3 s, 240 terms 7 s), so this bounds what one
# request can cost. Repeated terms count once (they are searched once).
MAX_SEARCH_TERMS = 8


def search_terms(q: str) -> tuple[str, ...]:
    """Return the distinct whitespace-separated terms of `q`, in their first order."""
    return tuple(dict.fromkeys(q.split()))


def _few_terms(q: str) -> None:
    if len(search_terms(q)) > MAX_SEARCH_TERMS:
        raise ValidationError(f"At most {MAX_SEARCH_TERMS} distinct search terms.")


class MoveWrite(Schema):
    """The body of POST .../move: where the task goes (omitted: keeps its own) and after whom."""

    class Meta:
        unknown = RAISE

    parent_id = StrictUUID(allow_none=True)
    list_id = StrictUUID(allow_none=True)
    after = StrictUUID(required=True, allow_none=True)


class ListWrite(Schema):
    """The writable fields of a list: name (required on create) and colour."""

    class Meta:
        unknown = RAISE

    name = CleanText(required=True, validate=TrimmedLength(min=1, max=100))
    color = Color(allow_none=True)

    @pre_load
    def drop_read_only_fields(self, data: Any, **kwargs: Any) -> Any:
        """Ignore server-set fields, so a client may send back what it read."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in LIST_READ_ONLY_FIELDS}
        return data

    @validates_schema
    def require_some_field(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> None:
        """Reject an update that names no field at all."""
        if partial and not data:
            raise ValidationError("No fields to update.")


class SettingsWrite(Schema):
    """The user's settings: default time zone and first day of the week (1 Monday - 7 Sunday)."""

    class Meta:
        unknown = RAISE

    time_zone = TimeZoneName()
    week_start = StrictInteger(validate=validate.Range(min=1, max=7))

    @pre_load
    def drop_read_only_fields(self, data: Any, **kwargs: Any) -> Any:
        """Ignore server-set fields, so a client may send back what it read."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in SETTINGS_READ_ONLY_FIELDS}
        return data

    @validates_schema
    def require_some_field(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Reject a change that names no setting at all."""
        if not data:
            raise ValidationError("No fields to update.")


class ListOrInbox(fields.String):
    """A list id, or `inbox` (the tasks without a list): the nil UUID stands for the inbox."""

    default_error_messages = {"invalid": "Must be a list id (UUID) or inbox."}
    none_word = "inbox"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> uuid.UUID:
        if value == self.none_word:
            return uuid.UUID(int=0)
        if not isinstance(value, str) or not _CANONICAL_UUID.fullmatch(value):
            raise self.make_error("invalid")
        parsed = uuid.UUID(value)
        if parsed.int == 0:
            raise self.make_error("invalid")
        return parsed


class ParentOrNone(ListOrInbox):
    """A task id, or `none` (top-level tasks): the nil UUID stands for none."""

    default_error_messages = {"invalid": "Must be a task id (UUID) or none."}
    none_word = "none"


STATUS_FILTERS = ("all", "pending", "completed")
SORT_KEYS = ("created_at", "updated_at", "due_at", "priority", "title", "order", "position")
SORTS = SORT_KEYS + tuple(f"-{key}" for key in SORT_KEYS)


class ListQuery(Schema):
    """Query parameters of the task listing: filters, sort order and page."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default="all", validate=validate.OneOf(STATUS_FILTERS))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    tag = fields.List(Tag(), validate=validate.Length(max=20))
    q = CleanText(trim=False, validate=[validate.Length(max=500), _few_terms])
    due_before = UtcDateTime()
    due_after = UtcDateTime()
    list_id = ListOrInbox()
    parent_id = ParentOrNone()
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORTS))
    limit = QueryInteger(load_default=100, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=validate.Length(min=1, max=4096))

    @pre_load
    def repeatable_tag(self, data: Any, **kwargs: Any) -> Any:
        """Accept one `tag` as well as several (the query string repeats it)."""
        if isinstance(data, dict) and isinstance(data.get("tag"), str):
            return {**data, "tag": [data["tag"]]}
        return data


class BulkQuery(Schema):
    """Query parameters of the collection's DELETE and PATCH: which tasks they apply to."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default="all", validate=validate.OneOf(STATUS_FILTERS))


class TrashQuery(Schema):
    """Query parameters of GET /trash: a page of it."""

    class Meta:
        unknown = RAISE

    limit = QueryInteger(load_default=100, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=validate.Length(min=1, max=4096))


class ChangesQuery(Schema):
    """Query parameters of GET /changes: where the client's copy stands, and how many."""

    class Meta:
        unknown = RAISE

    limit = QueryInteger(load_default=500, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(validate=validate.Length(min=1, max=4096))


BATCH_OPERATIONS = ("create", "update", "complete", "delete", "move")
MAX_BATCH_OPERATIONS = 100


class BatchOperation(Schema):
    """One operation of POST /batch; its `body` is validated later by the single route's schema.

    `id` names a task: its UUID, or the `temp_id` of an earlier create of the same batch.
    """

    class Meta:
        unknown = RAISE

    op = fields.String(required=True, validate=validate.OneOf(BATCH_OPERATIONS))
    id = CleanText(validate=validate.Length(min=1, max=128))
    temp_id = CleanText(validate=validate.Length(min=1, max=128))
    if_match = fields.String(validate=validate.Length(min=1, max=1024))
    body = fields.Dict(allow_none=True)

    @validates_schema
    def names_its_task(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Require `id` on every operation but create; `temp_id` and no `id` on create only."""
        if data.get("op") == "create":
            if "id" in data:
                raise ValidationError("A create takes no id (give a temp_id).", "id")
            if "if_match" in data:
                raise ValidationError("A create takes no if_match.", "if_match")
        elif data.get("op") is not None:
            if "id" not in data:
                raise ValidationError("Missing data for required field.", "id")
            if "temp_id" in data:
                raise ValidationError("Only a create takes a temp_id.", "temp_id")


class BatchWrite(Schema):
    """The body of POST /batch: up to 100 operations, applied in order."""

    class Meta:
        unknown = RAISE

    operations = fields.List(
        fields.Nested(BatchOperation),
        required=True,
        validate=validate.Length(max=MAX_BATCH_OPERATIONS),
    )

    @validates_schema
    def distinct_temp_ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse a temp_id used twice: later operations could not tell which task it names."""
        seen: set[str] = set()
        for index, operation in enumerate(data.get("operations") or ()):
            temp_id = operation.get("temp_id")
            if temp_id is None:
                continue
            if temp_id in seen:
                raise ValidationError(
                    {index: {"temp_id": ["Already used by an earlier operation."]}}, "operations"
                )
            seen.add(temp_id)


reminder_snooze_schema = ReminderSnooze()
reminder_query_schema = ReminderQuery()
task_create_schema = TaskWrite()
task_update_schema = TaskWrite(partial=True)
completion_schema = CompletionWrite()
list_query_schema = ListQuery()
move_schema = MoveWrite()
list_create_schema = ListWrite()
list_update_schema = ListWrite(partial=True)
settings_schema = SettingsWrite()
bulk_query_schema = BulkQuery()
trash_query_schema = TrashQuery()
changes_query_schema = ChangesQuery()
batch_schema = BatchWrite()
