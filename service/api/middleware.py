"""Falcon middleware: request ids, path parameter checks and body validation."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import falcon
from marshmallow import Schema, ValidationError

from service.api.errors import RequestValidationError
from service.core.logs import request_id_var

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_USER_ID = re.compile(r"[A-Za-z0-9._~@|:+-]{1,128}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class RequestId:
    """Echo a sane X-Request-ID or make one; it goes on the response and into every log line."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-ID")
        if given and _SANE_REQUEST_ID.fullmatch(given):
            request_id = given
        else:
            # 128 random bits as 32 hex digits, like uuid4().hex but without building a UUID
            # object: a quarter of the cost, on every request that brings no id.
            request_id = os.urandom(16).hex()
        req.context.request_id = request_id
        req.context.log_token = request_id_var.set(request_id)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        request_id = getattr(req.context, "request_id", None)
        if request_id is not None:
            resp.set_header("X-Request-ID", request_id)
        token = getattr(req.context, "log_token", None)
        if token is not None:
            request_id_var.reset(token)


class PathParams:
    """Reject a malformed user_id or task_id with a 422; hand the responder a UUID task_id."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        user_id = params.get("user_id")
        if user_id is not None and not _USER_ID.fullmatch(user_id):
            raise RequestValidationError.single(
                "path",
                "user_id",
                "Must be 1-128 characters of A-Z a-z 0-9 . _ ~ @ | : + -",
            )
        task_id = params.get("task_id")
        if task_id is not None:
            if not _UUID.fullmatch(task_id):
                raise RequestValidationError.single("path", "task_id", "Must be a UUID.")
            params["task_id"] = uuid.UUID(task_id)


class RequestBody:
    """Load and validate the JSON body with the schema the resource declares for the method.

    A resource declares `schemas = {"POST": schema, ...}`; the validated data lands in
    `req.context.body`. Methods listed in the resource's `optional_body` accept no body
    at all (then `req.context.body` is None).
    """

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        schemas: dict[str, Schema] | None = getattr(resource, "schemas", None)
        schema = schemas.get(req.method) if schemas else None
        if schema is None:
            return
        if req.method in getattr(resource, "optional_body", ()):
            media = req.get_media(default_when_empty=None)
            if media is None:
                req.context.body = None
                return
        else:
            media = req.get_media()
        if not isinstance(media, dict):
            raise falcon.HTTPBadRequest(description="The body must be a JSON object.")
        try:
            req.context.body = schema.load(media)
        except ValidationError as error:
            raise RequestValidationError.from_marshmallow(error, "body") from None


class TrustForwardedHeaders:
    """Build task URLs from Forwarded / X-Forwarded-* headers (only behind a trusted proxy)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.url_prefix = req.forwarded_prefix
