"""The OpenAPI document describes the service a generated client talks to: every error as the
problem+json it really is, one name per schema, readable operation names, valid examples."""

from __future__ import annotations

import enum
import re
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any, get_args, get_type_hints

import jsonschema_rs
import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from backend.clock import Clock
from backend.people.actor import PUBLIC
from tests.cases.helpers import Client, write_headers
from tests.contract.compat import current_document
from tests.factories import World
from tests.mobile.helpers import new_case

Document = dict[str, Any]
WRITES = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> Document:
    return current_document()


def operations(document: Document) -> list[tuple[str, str, Document]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def problem_validator(document: Document) -> Any:
    schema = {"$ref": "#/components/schemas/Problem", "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def test_every_error_answer_is_documented_as_a_problem(document: Document) -> None:
    wrong = [
        (method, path, status, media)
        for method, path, op in operations(document)
        for status, answer in op["responses"].items()
        if status >= "400"
        for media, content in answer.get("content", {"none": {}}).items()
        if media != "application/problem+json" or content.get("schema") != {"$ref": "#/components/schemas/Problem"}
    ]
    assert wrong == []


def test_each_operation_documents_the_errors_its_kind_can_answer(app: Litestar, document: Document) -> None:
    """Behind a login: 401, 403 and 503; an id in the path: 404; an idempotent write: 409 and 422."""
    missing = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or route.path_format not in document["paths"]:
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                documented = set(document["paths"][route.path_format][method.lower()]["responses"])
                wanted = set()
                if handler.opt.get("roles") != PUBLIC:  # a person's roles, or a system client's
                    wanted |= {"400", "401", "403", "503"}
                if ":uuid}" in route.path:
                    wanted.add("404")
                if method.lower() in WRITES and "Idempotency-Key" in str(
                    document["paths"][route.path_format][method.lower()].get("parameters", [])
                ):
                    wanted |= {"409", "422"}
                if wanted - documented:
                    missing.append((method, route.path, sorted(wanted - documented)))
    assert missing == []
    login = document["paths"]["/auth/login"]["post"]["responses"]
    assert {"401", "429", "503"} <= set(login) and "403" in login  # a new password due is 403
    assert set(document["paths"]["/health"]["get"]["responses"]) == {"200"}


async def test_the_errors_a_client_meets_are_the_documented_problems(
    client: Client, world: World, clock: Clock, document: Document
) -> None:
    case_id = await new_case(client, world, clock)
    nowhere = f"/mobile/v1/visits/{uuid.uuid4()}/check-in"
    arrived = {"device_time": clock.now().isoformat()}
    future = {
        "client_id": str(uuid.uuid4()),
        "case_id": case_id,
        "reason": "pain",
        "severity": "high",
        "raised_at": (clock.now() + timedelta(days=1)).isoformat(),
    }
    tries = [
        ("POST", "/mobile/v1/visits/{visit_id}/check-in", nowhere, {}, arrived, 401),
        ("POST", "/mobile/v1/visits/{visit_id}/check-in", nowhere, write_headers(world.admin), arrived, 403),
        ("POST", "/mobile/v1/visits/{visit_id}/check-in", nowhere, write_headers(world.nurse_a), arrived, 404),
        ("POST", "/mobile/v1/visits/{visit_id}/check-in", nowhere, write_headers(world.nurse_a), {"x": 1}, 400),
        ("POST", "/mobile/v1/alerts", "/mobile/v1/alerts", write_headers(world.nurse_a), future, 422),
        ("POST", "/auth/login", "/auth/login", {}, {"email": world.nurse_a.email, "password": "wrong" * 3}, 400),
    ]
    validator = problem_validator(document)
    for method, template, path, headers, body, status in tries:
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert str(status) in document["paths"][template][method.lower()]["responses"], (template, status)
        problem = answer.json()
        assert validator.is_valid(problem), (problem, list(validator.iter_errors(problem)))
        assert problem["status"] == status
    invalid = await client.post(nowhere, json={"device_time": "at the door"}, headers=write_headers(world.nurse_a))
    refused = invalid.json()
    assert validator.is_valid(refused) and refused.get("errors", [{}])[0].get("field") == "device_time", refused


def wire_types(annotation: Any, found: set[type]) -> None:
    """Every struct and enum a request or an answer is made of, reached from `annotation`."""
    if isinstance(annotation, type) and issubclass(annotation, (msgspec.Struct, enum.Enum)):
        if annotation in found:
            return
        found.add(annotation)
        if issubclass(annotation, msgspec.Struct):
            for hint in get_type_hints(annotation, include_extras=True).values():
                wire_types(hint, found)
        return
    for argument in get_args(annotation):
        wire_types(argument, found)


def test_no_two_classes_share_a_schema_name(app: Litestar, document: Document) -> None:
    found: set[type] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and handler.include_in_schema:
                for parameter in handler.parsed_fn_signature.parameters.values():
                    wire_types(parameter.annotation, found)
                wire_types(handler.parsed_fn_signature.return_type.annotation, found)
                for response in (handler.responses or {}).values():
                    wire_types(response.data_container, found)
    by_name: dict[str, set[str]] = defaultdict(set)
    for kind in found:
        by_name[kind.__name__].add(f"{kind.__module__}.{kind.__qualname__}")
    shared = {name: sorted(classes) for name, classes in by_name.items() if len(classes) > 1}
    assert shared == {}
    # Each component is one class under its own name: no module path glued on to tell two apart.
    assert set(document["components"]["schemas"]) <= set(by_name)


def test_operation_ids_are_readable_unique_camel_case(document: Document) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i)] == []
    named = {(method, path): op["operationId"] for method, path, op in operations(document)}
    assert named[("post", "/mobile/v1/alerts")] == "raiseAlert"
    assert named[("get", "/mobile/v1/my-shift")] == "getMyShift"
    assert named[("post", "/auth/login")] == "login"
    assert named[("post", "/mobile/v1/sync")] == "syncBatch"


def test_the_phones_bodies_carry_examples_that_their_schemas_accept(document: Document) -> None:
    phone = {"syncBatch", "raiseAlert", "checkIn", "recordScores"}
    shown = set()
    for _, _, op in operations(document):
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        for example in schema.get("examples", []):
            validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})
            assert validator.is_valid(example), (op["operationId"], list(validator.iter_errors(example)))
            shown.add(op["operationId"])
    assert phone <= shown
