"""Falcon middleware: request ids, path parameter checks and body validation."""

from __future__ import annotations

import io
import os
import re
import uuid
from typing import Any

import falcon
from marshmallow import Schema, ValidationError

from service.api.errors import RequestValidationError
from service.api.media import too_large
from service.core.config import MAX_BODY_BYTES
from service.core.logs import request_id_var
from service.data import outbox

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_USER_ID = re.compile(r"[A-Za-z0-9._~@|:+-]{1,128}")
# "." and ".." fit the characters but are dot-segments: every client resolves them away in
# the task URLs (RFC 3986 5.2.4), so /api/../tasks/... would name another resource.
_DOT_SEGMENTS = frozenset({".", ".."})
# RFC 3986 authority without userinfo: host [ ":" port ], host an IP literal, IPv4 address or
# reg-name (unreserved, pct-encoded, sub-delims). Anything else (a "/", "?", "#", "@", a
# space) would change the meaning of the URLs built from it (Location, Link, "url").
_HOST = re.compile(
    r"(?:\[[0-9A-Fa-f:.]{2,45}\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+\]"
    r"|(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?"
)
# Host values already found valid: a few per deployment, so the check is one set lookup.
_valid_hosts: set[str] = set()
_MAX_REMEMBERED_HOSTS = 256
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
    """Reject a malformed user_id or task, list or reminder id with a 422; hand over UUIDs."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        host = req.env.get("HTTP_HOST")
        if host is not None and host not in _valid_hosts:
            check_host(host)
        user_id = params.get("user_id")
        if user_id is not None and (not _USER_ID.fullmatch(user_id) or user_id in _DOT_SEGMENTS):
            raise RequestValidationError.single(
                "path",
                "user_id",
                "Must be 1-128 characters of A-Z a-z 0-9 . _ ~ @ | : + -, and not . or ..",
            )
        for name in ("task_id", "list_id", "batch_id", "reminder_id"):
            value = params.get(name)
            if value is not None:
                params[name] = path_uuid(name, value)


def path_uuid(name: str, value: str) -> uuid.UUID:
    """Return the UUID a path parameter spells; a 422 naming it when it is not one."""
    if not _UUID.fullmatch(value):
        raise RequestValidationError.single("path", name, "Must be a UUID.")
    return uuid.UUID(value)


def check_host(host: str) -> None:
    """Raise a 400 unless `host` is an RFC 3986 host[:port] (RFC 9112 3.2: a bad Host is a 400).

    The task URLs in Location, Link and every task's "url" are built from it.
    """
    if len(host) > 300 or not _HOST.fullmatch(host):
        raise falcon.HTTPBadRequest(description="The Host header is not a valid host[:port].")
    if len(_valid_hosts) < _MAX_REMEMBERED_HOSTS:
        _valid_hosts.add(host)


def read_chunked_body(req: falcon.Request) -> None:
    """Read a body sent without Content-Length (chunked) so that Falcon sees it; 413 past 64 KiB.

    Falcon reads `Content-Length` bytes, so a chunked body looked empty (a 400). gunicorn
    de-chunks wsgi.input; this reads at most one byte past the limit from it and hands the
    body on with its length, as if the client had sent one.
    """
    env = req.env
    if "CONTENT_LENGTH" in env or "chunked" not in env.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    data = env["wsgi.input"].read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise too_large(MAX_BODY_BYTES)
    env["wsgi.input"] = io.BytesIO(data)
    env["CONTENT_LENGTH"] = str(len(data))


# What get_media returns for a request without a body (a JSON null is a body).
_NO_BODY = object()


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
        read_chunked_body(req)
        if req.method in getattr(resource, "optional_body", ()):
            media = req.get_media(default_when_empty=_NO_BODY)
            if media is _NO_BODY:
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
        host = req.forwarded_host
        if host not in _valid_hosts:
            check_host(host)
        req.context.url_prefix = req.forwarded_prefix


class EventUrls:
    """Tell the outbox how this request reached the service, for the `url` of event payloads.

    After TrustForwardedHeaders: behind a trusted proxy the forwarded scheme and host count.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.url_prefix_token = outbox.url_prefix.set(
            req.context.get("url_prefix") or req.prefix
        )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        token = req.context.get("url_prefix_token")
        if token is not None:
            outbox.url_prefix.reset(token)
