"""/openapi.json states every bound the validation enforces, and its examples are real."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from marshmallow import fields, validate

from service.api.openapi import (
    COMPLETION_EXAMPLE,
    CREATE_EXAMPLE,
    LIST_CREATE_EXAMPLE,
    LIST_UPDATE_EXAMPLE,
    MOVE_EXAMPLE,
    SETTINGS_EXAMPLE,
    UPDATE_EXAMPLE,
    openapi_document,
)
from service.api.openapi_webhooks import WEBHOOK_CREATE_EXAMPLE, WEBHOOK_UPDATE_EXAMPLE
from service.api.schemas import (
    ListQuery,
    ListWrite,
    MoveWrite,
    SettingsWrite,
    TaskWrite,
    completion_schema,
    task_create_schema,
)
from service.api.webhook_schemas import webhook_create_schema, webhook_update_schema
from service.core.config import PROJECT_ROOT

DOCUMENT = openapi_document()
METHODS = {"get", "put", "post", "patch", "delete"}


def _operations():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _listing_parameters() -> dict[str, dict]:
    operation = DOCUMENT["paths"]["/api/{user_id}/tasks"]["get"]
    return {p["name"]: p["schema"] for p in operation["parameters"] if p.get("in") == "query"}


def _length_bounds(field: fields.Field) -> tuple[int | None, int | None] | None:
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            return validator.min, validator.max
    return None


@pytest.mark.parametrize(("path", "method"), [(p, m) for p, m, _ in _operations()])
def test_every_operation_documents_the_servers_own_refusals(path, method):
    responses = DOCUMENT["paths"][path][method]["responses"]
    # Under /api/ every one of them; elsewhere those only the server answers (the shared 400
    # and 413 components carry the /api/ rate-limit headers).
    expected = (
        {"400", "408", "413", "414", "431"} if path.startswith("/api/") else {"408", "414", "431"}
    )
    assert expected <= set(responses), f"{method.upper()} {path}"


@pytest.mark.parametrize("name", sorted(ListQuery._declared_fields))
def test_every_length_bound_of_the_listing_query_is_documented(name):
    field = ListQuery._declared_fields[name]
    documented = _listing_parameters()[name]
    bounds = _length_bounds(field)
    if bounds is not None:
        minimum, maximum = bounds
        if isinstance(field, fields.List):
            assert documented.get("maxItems") == maximum, name
        else:
            assert documented.get("maxLength") == maximum, name
            if minimum:
                assert documented.get("minLength") == minimum, name
    if isinstance(field, fields.List):
        item_bounds = _length_bounds(field.inner)
        if item_bounds is not None:
            assert documented["items"].get("maxLength") == item_bounds[1]
            assert documented["items"].get("minLength") == item_bounds[0]


@pytest.mark.parametrize("name", sorted(TaskWrite._declared_fields))
def test_every_length_bound_of_a_task_body_is_documented(name):
    field = TaskWrite._declared_fields[name]
    documented = DOCUMENT["components"]["schemas"]["TaskCreate"]["properties"][name]
    bounds = _length_bounds(field)
    if bounds is not None:
        key = "maxItems" if isinstance(field, fields.List) else "maxLength"
        assert documented.get(key) == bounds[1], name


def test_tag_rules_are_documented_in_the_body_and_the_query():
    body_tag = DOCUMENT["components"]["schemas"]["TaskCreate"]["properties"]["tags"]["items"]
    query_tag = _listing_parameters()["tag"]["items"]
    for tag in (body_tag, query_tag):
        assert (tag["minLength"], tag["maxLength"]) == (1, 32)
        assert re.fullmatch(tag["pattern"], " Home ")
        assert not re.fullmatch(tag["pattern"], "two words")
        assert "lower-cased" in tag["description"]


def test_timestamps_are_documented_as_rfc_3339_with_at_most_microseconds():
    parameters = _listing_parameters()
    body = DOCUMENT["components"]["schemas"]["TaskCreate"]["properties"]["due_at"]
    for schema in (parameters["due_before"], parameters["due_after"], body):
        pattern = schema["pattern"]
        assert re.fullmatch(pattern, "2026-01-24T10:00:00.123456+01:00")
        assert not re.fullmatch(pattern, "2026-01-24T10:00:00.1234567Z")
        assert not re.fullmatch(pattern, "2026-01-24T10:00:00")


def test_the_whole_body_error_field_is_a_string():
    field = DOCUMENT["components"]["schemas"]["FieldError"]["properties"]["field"]
    assert field["type"] == "string"


def test_example_bodies_pass_validation_and_are_due_in_the_future():
    task_create_schema.load(CREATE_EXAMPLE)
    TaskWrite(partial=True).load(UPDATE_EXAMPLE)
    completion_schema.load(COMPLETION_EXAMPLE)
    now = datetime.now(UTC)
    for example in (CREATE_EXAMPLE, UPDATE_EXAMPLE):
        assert datetime.fromisoformat(example["due_at"]) > now


def test_list_move_and_settings_examples_pass_validation():
    ListWrite().load(LIST_CREATE_EXAMPLE)
    ListWrite(partial=True).load(LIST_UPDATE_EXAMPLE)
    MoveWrite().load(MOVE_EXAMPLE)
    SettingsWrite().load(SETTINGS_EXAMPLE)


def test_webhook_examples_pass_validation():
    webhook_create_schema.load(WEBHOOK_CREATE_EXAMPLE)
    webhook_update_schema.load(WEBHOOK_UPDATE_EXAMPLE)


def test_every_request_body_has_an_example():
    for path, method, operation in _operations():
        for media in operation.get("requestBody", {}).get("content", {}).values():
            assert "example" in media, f"{method.upper()} {path}"


def test_swagger_try_it_out_creates_the_example_task(app, user_id):
    example = DOCUMENT["paths"]["/api/{user_id}/tasks"]["post"]["requestBody"]["content"]
    body = example["application/json"]["example"]
    created = app.post_json(f"/api/{user_id}/tasks", body, status=201).json
    assert created["title"] == "Buy milk" and created["tags"] == ["home", "shopping"]


def test_readme_examples_are_due_in_the_future():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    stamps = re.findall(r'"due_at": "([^"]+)"', readme)
    assert stamps, "the README's tour creates a task with a due_at"
    now = datetime.now(UTC)
    for stamp in stamps:
        assert datetime.fromisoformat(stamp) > now, stamp
