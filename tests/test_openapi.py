"""/openapi.json: a valid OpenAPI 3.1 document that matches the routes and the responses served."""

from __future__ import annotations

import re

import pytest
from falcon import inspect
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from service.api.openapi import openapi_document
from service.api.schemas import ListQuery, TaskWrite

DOC = openapi_document()
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
OPERATIONS = sorted(
    (path, method)
    for path, item in DOC["paths"].items()
    for method in item
    if method in HTTP_METHODS
)

CONTRACT_ERROR_STATUSES = (400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 429, 500, 503)
LIST_PARAMETERS = (
    "status",
    "priority",
    "tag",
    "q",
    "due_before",
    "due_after",
    "sort",
    "limit",
    "cursor",
)


def _template(path: str) -> str:
    """Drop Falcon field converters: /a/{id:uuid} is /a/{id} in OpenAPI."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def _served(app) -> set[tuple[str, str]]:
    """Return (path, method) for every responder the app routes, Falcon's defaults excluded.

    HEAD, which every GET route answers the same way without the body (RFC 9110 9.3.2), is
    left out: the document describes the GET.
    """
    served = {
        (_template(route.path), method.method.lower())
        for route in inspect.inspect_app(app).routes
        for method in route.methods
        if not method.internal
    }
    return {(path, m) for path, m in served if m != "head" or (path, "get") not in served}


def _resolve(node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = DOC
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def _parameters(path: str, method: str) -> dict[str, dict]:
    operation = DOC["paths"][path][method]
    return {p["name"]: p for p in map(_resolve, operation.get("parameters", []))}


def _assert_conforms(instance: object, schema_name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": DOC["components"]}
    OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER).validate(instance)


def test_document_is_valid_openapi_3_1():
    assert DOC["openapi"] == "3.1.0"
    validate(DOC)


def test_openapi_json_serves_the_document(app):
    resp = app.get("/openapi.json")
    assert resp.content_type == "application/json"
    assert resp.json == DOC


def test_every_route_and_method_the_app_serves_is_documented(runtime):
    served = _served(runtime.app)
    assert served, "the router walk found no routes"
    undocumented = sorted(op for op in served if op not in set(OPERATIONS))
    assert undocumented == []


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_documented_operation_is_served(runtime, path, method):
    assert (path, method) in _served(runtime.app)


def test_operations_have_unique_ids_summaries_and_request_id_headers():
    ids = [DOC["paths"][p][m]["operationId"] for p, m in OPERATIONS]
    assert len(ids) == len(set(ids))
    for path, method in OPERATIONS:
        operation = DOC["paths"][path][method]
        assert operation["summary"], (path, method)
        for status, response in operation["responses"].items():
            assert "X-Request-ID" in _resolve(response)["headers"], (path, method, status)


def test_every_contract_error_status_is_a_problem_response():
    responses = DOC["components"]["responses"]
    for status in CONTRACT_ERROR_STATUSES:
        content = responses[str(status)]["content"]
        schema = content["application/problem+json"]["schema"]["$ref"]
        expected = "ValidationProblem" if status == 422 else "Problem"
        assert schema == f"#/components/schemas/{expected}"
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
    assert "Allow" in responses["405"]["headers"]


def test_api_operations_take_optional_bearer_auth_and_document_its_errors():
    scheme = DOC["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == scheme | {"type": "http", "scheme": "bearer"}
    for path, method in OPERATIONS:
        operation = DOC["paths"][path][method]
        if path.startswith("/api/"):
            assert operation["security"] == [{}, {"bearerAuth": []}]
            assert {"401", "403", "422", "500", "503"} <= set(operation["responses"])
            assert _parameters(path, method)["user_id"]["in"] == "path"
        else:
            assert "security" not in operation


def test_listing_documents_every_contract_parameter_and_the_link_header():
    parameters = _parameters("/api/{user_id}/tasks", "get")
    assert set(LIST_PARAMETERS) <= set(parameters)
    assert all(parameters[name]["in"] == "query" for name in LIST_PARAMETERS)
    assert parameters["tag"]["schema"]["type"] == "array"
    limit = parameters["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 500, 100)
    assert "-due_at" in parameters["sort"]["schema"]["enum"]
    assert "Link" in DOC["paths"]["/api/{user_id}/tasks"]["get"]["responses"]["200"]["headers"]


def test_every_field_the_service_validates_in_the_listing_query_is_documented():
    parameters = _parameters("/api/{user_id}/tasks", "get")
    for name, field in ListQuery().fields.items():
        assert (field.data_key or name) in parameters


def test_request_bodies_are_the_validating_schemas():
    schemas = DOC["components"]["schemas"]
    create, update = schemas["TaskCreate"], schemas["TaskUpdate"]
    writable = set(TaskWrite().fields)
    assert writable <= set(create["properties"])
    assert create["required"] == ["title"]
    assert "required" not in update
    # Read-only fields are accepted and ignored on input: documented, marked readOnly.
    read_only = {name for name, prop in create["properties"].items() if prop.get("readOnly")}
    assert read_only == {
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
    patch = DOC["paths"]["/api/{user_id}/tasks/{task_id}"]["patch"]["requestBody"]["content"]
    assert set(patch) == {"application/json", "application/merge-patch+json"}


def test_conditional_and_idempotency_headers_are_documented():
    item = "/api/{user_id}/tasks/{task_id}"
    assert "If-None-Match" in _parameters(item, "get")
    assert "304" in DOC["paths"][item]["get"]["responses"]
    for method in ("put", "patch", "delete"):
        assert {"If-Match", "Idempotency-Key"} <= set(_parameters(item, method))
        assert {"404", "409", "412"} <= set(DOC["paths"][item][method]["responses"])
    for path, method in (("/api/{user_id}/tasks", "post"), ("/api/{user_id}/tasks", "delete")):
        assert "Idempotency-Key" in _parameters(path, method)
        ok = next(r for s, r in DOC["paths"][path][method]["responses"].items() if s < "300")
        assert "Idempotent-Replayed" in ok["headers"]
    created = DOC["paths"]["/api/{user_id}/tasks"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag"} <= set(created)


def test_task_responses_conform_to_the_document(api):
    created = api.create(title="conform", tags=["x"], due_at="2026-01-24T10:00:00+01:00")
    _assert_conforms(created.json, "Task")
    _assert_conforms(api.app.get(api.item(created.json["id"])).json, "Task")
    listing = api.app.get(api.base).json
    assert listing
    for task in listing:
        _assert_conforms(task, "Task")


def test_problem_responses_conform_to_the_document(api):
    missing = api.app.get(api.item("00000000-0000-4000-8000-000000000000"), status=404)
    _assert_conforms(missing.json, "Problem")
    invalid = api.create(status=422, title="")
    _assert_conforms(invalid.json, "ValidationProblem")
    empty_patch = api.app.patch_json(api.item(api.created()["id"]), {}, status=422)
    _assert_conforms(empty_patch.json, "ValidationProblem")


def test_operational_responses_conform_to_the_document(app):
    _assert_conforms(app.get("/health").json, "Health")
    _assert_conforms(app.get("/livez").json, "Liveness")


def test_every_api_operation_documents_the_rate_limit_headers_and_the_429():
    api_operations = [(p, m) for p, m in OPERATIONS if p.startswith("/api/")]
    assert api_operations
    for path, method in api_operations:
        responses = DOC["paths"][path][method]["responses"]
        assert "429" in responses, (path, method)
        for status, response in responses.items():
            if status in {"408", "414", "431"}:
                continue  # refused by the HTTP server before the app (and its limiter) runs
            headers = _resolve(response)["headers"]
            assert {"RateLimit", "RateLimit-Policy"} <= set(headers), (path, method, status)
    too_many = DOC["components"]["responses"]["429"]
    assert "Retry-After" in too_many["headers"]
    assert too_many["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    for path, method in OPERATIONS:
        if not path.startswith("/api/"):
            responses = DOC["paths"][path][method]["responses"]
            assert "429" not in responses
            for response in responses.values():
                assert "RateLimit" not in _resolve(response).get("headers", {}), (path, method)
