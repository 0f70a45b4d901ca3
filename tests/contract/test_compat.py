"""Phones in the field never break: /mobile/v1 as the app serves it may only grow from the snapshot
(tests/contract/mobile_v1.openapi.json). The checker itself is tried on small hand-made documents,
so it can be seen to refuse each kind of breaking change and to let additions through."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.contract.compat import SNAPSHOT, breaking_changes, current_document, mobile_part


def test_the_mobile_api_breaks_nothing_an_installed_app_relies_on() -> None:
    before = json.loads(SNAPSHOT.read_text())
    now = mobile_part(current_document())
    assert breaking_changes(before, now) == [], (
        "The phone's contract broke. Phones in the field cannot update: add instead, and remove only after "
        "Deprecation and Sunset headers (README, API changelog). An intended addition is kept with "
        "`.venv/bin/python -m tests.contract.compat`."
    )


def test_the_snapshot_is_what_the_app_serves_now_so_every_addition_is_protected() -> None:
    """Generated the same way twice (no random examples in the document), and refreshed with every
    addition: an addition missing from the snapshot could later be removed unnoticed."""
    assert mobile_part(current_document()) == json.loads(SNAPSHOT.read_text()), (
        "The /mobile/v1 document differs from the snapshot: refresh it on purpose with "
        "`.venv/bin/python -m tests.contract.compat` after checking the change is only an addition."
    )


def document() -> dict[str, Any]:
    """A tiny /mobile/v1: one operation taking a body and answering a struct with an enum."""
    return {
        "openapi": "3.1.0",
        "paths": {
            "/mobile/v1/visits/{visit_id}/check-in": {
                "post": {
                    "operationId": "checkIn",
                    "parameters": [
                        {"name": "visit_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "shift", "in": "query", "required": False, "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckIn"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Visit"}}},
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "CheckIn": {
                    "type": "object",
                    "required": ["device_time"],
                    "properties": {
                        "device_time": {"type": "string"},
                        "note": {"oneOf": [{"type": "string", "maxLength": 300}, {"type": "null"}]},
                    },
                },
                "Visit": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "checked_in_at": {"oneOf": [{"type": "string"}, {"type": "null"}]},
                    },
                },
                "Status": {"type": "string", "enum": ["planned", "under_way", "done"]},
            }
        },
    }


OPERATION = ("paths", "/mobile/v1/visits/{visit_id}/check-in", "post")


def changed(*where: str, value: Any = None, delete: bool = False) -> dict[str, Any]:
    after = document()
    node = after
    for key in where[:-1]:
        node = node[key]
    if delete:
        del node[where[-1]]
    else:
        node[where[-1]] = value
    return after


SCHEMAS = ("components", "schemas")
CHECK_IN = (*SCHEMAS, "CheckIn")
VISIT = (*SCHEMAS, "Visit")

BREAKING = {
    "an operation removed": changed("paths", "/mobile/v1/visits/{visit_id}/check-in", delete=True),
    "an operation renamed": changed(*OPERATION, "operationId", value="arrive"),
    "a query parameter removed": changed(
        *OPERATION, "parameters", value=document()["paths"][OPERATION[1]]["post"]["parameters"][:1]
    ),
    "a request field removed": changed(*CHECK_IN, "properties", "note", delete=True),
    "an optional request field made required": changed(*CHECK_IN, "required", value=["device_time", "note"]),
    "a request field no longer nullable": changed(
        *CHECK_IN, "properties", "note", value={"type": "string", "maxLength": 300}
    ),
    "a request field narrowed in length": changed(
        *CHECK_IN, "properties", "note", value={"oneOf": [{"type": "string", "maxLength": 100}, {"type": "null"}]}
    ),
    "a request field changes type": changed(*CHECK_IN, "properties", "device_time", value={"type": "integer"}),
    "a new required request field": changed(*CHECK_IN, "required", value=["device_time", "position"]),
    "an answer field removed": changed(*VISIT, "properties", "checked_in_at", delete=True),
    "an answer field the phone counts on made optional": changed(*VISIT, "required", value=["id"]),
    "an answer field may now be null": changed(
        *VISIT, "properties", "id", value={"oneOf": [{"type": "string"}, {"type": "null"}]}
    ),
    "an enum value removed": changed(*SCHEMAS, "Status", "enum", value=["planned", "done"]),
    "the success answer removed": changed(*OPERATION, "responses", value={"201": {"description": "created"}}),
}

ADDITIONS = {
    "a new operation": changed(
        "paths", "/mobile/v1/visits/{visit_id}/check-out", value=document()["paths"][OPERATION[1]]
    ),
    "a new optional request field": changed(*CHECK_IN, "properties", "position", value={"type": "object"}),
    "a new answer field": changed(*VISIT, "properties", "checked_out_at", value={"type": "string"}),
    "a new enum value": changed(*SCHEMAS, "Status", "enum", value=["planned", "under_way", "done", "missed"]),
    "a request field widened": changed(
        *CHECK_IN, "properties", "note", value={"oneOf": [{"type": "string"}, {"type": "null"}]}
    ),
    "a new error answer": changed(*OPERATION, "responses", "404", value={"description": "not found"}),
    "a new optional query parameter": changed(
        *OPERATION,
        "parameters",
        value=[*document()["paths"][OPERATION[1]]["post"]["parameters"], {"name": "x", "in": "query", "schema": {}}],
    ),
}


@pytest.mark.parametrize("change", sorted(BREAKING))
def test_the_checker_refuses_a_breaking_change(change: str) -> None:
    assert breaking_changes(document(), BREAKING[change]) != [], change


@pytest.mark.parametrize("change", sorted(ADDITIONS))
def test_the_checker_lets_an_addition_through(change: str) -> None:
    assert breaking_changes(document(), ADDITIONS[change]) == [], change


def test_the_checker_finds_nothing_between_a_document_and_itself() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    assert breaking_changes(snapshot, copy.deepcopy(snapshot)) == []
