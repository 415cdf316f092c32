"""Problem details (RFC 9457): the one shape of every error response, and the error handlers."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import falcon
import psycopg
from marshmallow import ValidationError

from service.api.media import dumps
from service.core.metrics import count_database_error
from service.data.breaker import BreakerOpen
from service.domain.tree import RuleViolation

PROBLEM_JSON = "application/problem+json"

logger = logging.getLogger("service.api.errors")

# An unknown field's name comes from the client: echo no more than this much of it.
MAX_ECHOED_NAME = 64
# A 422 lists at most this many errors; its detail counts the others.
MAX_LISTED_ERRORS = 20


def _clip(name: str | None) -> str | None:
    if name is None or len(name) <= MAX_ECHOED_NAME:
        return name
    return name[: MAX_ECHOED_NAME - 1] + "\u2026"


class RequestValidationError(falcon.HTTPUnprocessableEntity):
    """A 422 that lists each offending field and where it was found."""

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None) -> None:
        listed = errors[:MAX_LISTED_ERRORS]
        names = ", ".join(sorted({e["field"] for e in listed if e.get("field")}))
        if detail is None:
            detail = f"Invalid {names}." if names else "Invalid request."
        if len(errors) > len(listed):
            # A 64 KiB body of unknown keys made a 363 KB answer listing every one.
            detail += f" {len(errors) - len(listed)} more errors are not listed."
        super().__init__(description=detail)
        self.errors = listed

    @classmethod
    def from_marshmallow(cls, error: ValidationError, location: str) -> RequestValidationError:
        """Flatten marshmallow's nested messages into the contract's `errors` list."""
        return cls(list(_flatten(error.messages, location, None)))

    @classmethod
    def single(cls, location: str, field: str, message: str) -> RequestValidationError:
        """Build the error for one field."""
        return cls([{"location": location, "field": field, "message": message}])


# An unknown field's name is client input: never echo a long one back in full.
_MAX_FIELD_NAME = 64


def _flatten(messages: Any, location: str, prefix: str | None):
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, str) and len(key) > _MAX_FIELD_NAME:
                key = key[: _MAX_FIELD_NAME - 3] + "..."
            if key == "_schema":
                name = prefix
            elif isinstance(key, int):
                # Dotted, as the contract names nested fields: operations.3.op, tags.0.
                name = f"{prefix}.{key}" if prefix else str(key)
            else:
                name = _clip(f"{prefix}.{key}" if prefix else str(key))
            yield from _flatten(value, location, name)
    elif isinstance(messages, list | tuple):
        for message in messages:
            if isinstance(message, dict | list):
                yield from _flatten(message, location, prefix)
            else:
                yield {"location": location, "field": prefix or "", "message": str(message)}
    else:
        # The contract's field is always a string: "" when the whole body or query is at fault.
        yield {"location": location, "field": prefix or "", "message": str(messages)}


def problem(req: falcon.Request, error: falcon.HTTPError) -> dict[str, Any]:
    """Return the problem details of `error`, carrying the request id."""
    status = error.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        # A problem with a type of its own (e.g. the feed's cursor-expired) names it.
        "type": getattr(error, "problem_type", None) or "about:blank",
        "title": phrase,
        "status": status,
        "detail": error.description or phrase,
        "request_id": getattr(req.context, "request_id", None),
    }
    errors = getattr(error, "errors", None)
    if errors:
        body["errors"] = errors
    return body


def serialize_problem(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Render any HTTPError as application/problem+json carrying the request id."""
    resp.data = dumps(problem(req, error))
    resp.content_type = PROBLEM_JSON


def _respond(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    resp.status = error.status
    if error.headers:
        resp.set_headers(error.headers)
    serialize_problem(req, resp, error)


class DatabaseUnavailable:
    """Answer 503 with Retry-After when the database is unreachable, overloaded or too slow."""

    def __init__(self, retry_after_seconds: int) -> None:
        self._retry_after = retry_after_seconds

    def __call__(
        self, req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
    ) -> None:
        count_database_error(error)
        # While the breaker is open every request fails this way; it logged once on opening.
        level = logging.DEBUG if isinstance(error, BreakerOpen) else logging.WARNING
        logger.log(level, "database unavailable: %s: %s", type(error).__name__, error)
        _respond(
            req,
            resp,
            falcon.HTTPServiceUnavailable(
                description="The database is unavailable; retry shortly.",
                retry_after=self._retry_after,
            ),
        )


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Log the cause of an unexpected failure and answer a bare 500 problem."""
    if isinstance(error, psycopg.Error):
        count_database_error(error)
    logger.error(
        "unhandled %s on %s %s", type(error).__name__, req.method, req.path, exc_info=error
    )
    _respond(
        req,
        resp,
        falcon.HTTPInternalServerError(
            description="An unexpected error occurred; quote the request_id when reporting it."
        ),
    )


def handle_validation_error(
    req: falcon.Request, resp: falcon.Response, error: ValidationError, params: dict[str, Any]
) -> None:
    """Turn a marshmallow error that escaped a resource into a 422 about the body."""
    _respond(req, resp, RequestValidationError.from_marshmallow(error, "body"))


def handle_rule_violation(
    req: falcon.Request, resp: falcon.Response, error: RuleViolation, params: dict[str, Any]
) -> None:
    """Answer 422 naming the body field a rule of the task model refused (list, parent...)."""
    _respond(req, resp, rule_violation(error))


def rule_violation(error: RuleViolation) -> RequestValidationError:
    """Return the 422 for a rule of the task model that refused a body field."""
    return RequestValidationError.single("body", error.field, error.message)


def install(app: falcon.App, retry_after_seconds: int) -> None:
    """Register the problem serializer and the error handlers (Falcon picks the most specific)."""
    app.set_error_serializer(serialize_problem)
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(ValidationError, handle_validation_error)
    unavailable = DatabaseUnavailable(retry_after_seconds)
    # PoolTimeout and QueryCanceled (statement_timeout) are OperationalErrors too.
    app.add_error_handler(psycopg.OperationalError, unavailable)
    app.add_error_handler(psycopg.InterfaceError, unavailable)
