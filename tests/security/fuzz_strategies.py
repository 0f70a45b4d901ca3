"""Hypothesis strategies that build hostile requests from the OpenAPI document.

Each value a schema describes is drawn from what well-behaved generators never send: date-times
without an offset or past the ends of the calendar, control characters, huge and negative numbers,
long strings, JSON nested a thousand levels deep; mixed with plausible values and the ids of real
records, so that a request also gets past the first check now and then and reaches the database.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

# A body too deep for any decoder's recursion: it must be a 400, on every route, logged in or not.
DEEP_JSON = "[" * 1000 + "]" * 1000
ZONES = [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), ZoneInfo("Europe/Copenhagen")]
EDGE_INSTANTS = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "2026-11-20T03:12:00",
    "2026-13-45T99:99:99Z",
    "",
]
EDGE_DAYS = ["0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01", "2026-02-30"]
EDGE_NUMBERS = [-1, 0, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30]
EDGE_TEXTS = ["Karen\x00Testesen", "\x1b[2J", "Ring\x85til", "\x7f", "x" * 10_001, "ok"]
NOTE_TEXTS = ["Datter ringede.\n\tSmerter i nat", "Karen\x00", "\x1b[31m"]

instants = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30), timezones=st.sampled_from(ZONES)),
    st.datetimes(),  # naive, years 1 to 9999
).map(lambda at: at.isoformat())
days = st.one_of(st.dates().map(lambda day: day.isoformat()), st.sampled_from(EDGE_DAYS))
texts = st.one_of(
    st.sampled_from(EDGE_TEXTS),
    st.text(max_size=20),
    st.text(st.characters(categories=["Cc"]), min_size=1, max_size=3).map(lambda cc: f"Tekst{cc}"),
)


@dataclass(frozen=True)
class Operation:
    """One operation of the document: its method, path template, parameters and body schema."""

    method: str
    path: str
    parameters: tuple[dict[str, Any], ...]
    body: dict[str, Any] | None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    content: str | None


def operations(document: dict[str, Any], skip: tuple[str, ...] = ()) -> list[Operation]:
    """Every operation of the document, in its order, but those whose path holds one of `skip`."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or any(word in path for word in skip):
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            found.append(Operation(method.upper(), path, tuple(operation.get("parameters", ())), body))
    return found


class Values:
    """Strategies for the values of one document's schemas, with ids of real records to aim at."""

    def __init__(self, document: dict[str, Any], known_ids: list[uuid.UUID]) -> None:
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
        self.ids = st.one_of(st.sampled_from(known_ids), st.uuids()).map(str) if known_ids else st.uuids().map(str)

    def of(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        """Values for `schema`: plausible ones and hostile ones of every kind it could hold."""
        if "$ref" in schema:
            return self.of(self.schemas[schema["$ref"].rsplit("/", 1)[-1]], depth)
        for key in ("oneOf", "anyOf", "allOf"):
            if key in schema:
                return st.one_of([self.of(part, depth) for part in schema[key]])
        if "enum" in schema:
            return st.one_of(st.sampled_from(schema["enum"]), texts)
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.of({**schema, "type": one}, depth) for one in kind])
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        if kind == "array":
            items = self.of(schema.get("items", {}), depth + 1) if depth < 4 else st.just(None)
            return st.lists(items, max_size=3)
        return self._scalar(schema, kind)

    def _scalar(self, schema: dict[str, Any], kind: str | None) -> st.SearchStrategy[Any]:
        if kind == "string":
            form = schema.get("format")
            if form == "date-time":
                return st.one_of(instants, st.sampled_from(EDGE_INSTANTS))
            if form == "date":
                return days
            if form == "uuid":
                return st.one_of(self.ids, texts)
            return texts
        if kind in ("integer", "number"):
            low, high = schema.get("minimum"), schema.get("maximum")
            plausible = st.integers(min_value=low, max_value=high) if kind == "integer" else st.floats(low, high)
            return st.one_of(plausible, st.sampled_from(EDGE_NUMBERS))
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return st.one_of(st.none(), texts, st.sampled_from(EDGE_NUMBERS))  # anything: raw JSON

    def _object(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
        properties = schema.get("properties", {})
        if depth > 4:
            return st.just({})
        required = {
            name: self.of(properties[name], depth + 1) for name in schema.get("required", ()) if name in properties
        }
        optional = {name: self.of(part, depth + 1) for name, part in properties.items() if name not in required}
        if not properties:
            return st.dictionaries(st.sampled_from(["body", "note", "raised_at"]), self._scalar({}, None), max_size=2)
        return st.fixed_dictionaries(required, optional=optional)

    def sync_operation(self) -> st.SearchStrategy[dict[str, Any]]:
        """An offline operation whose body is a raise or a note: the sync batch's own hostile values."""
        raise_body = st.fixed_dictionaries(
            {"client_id": st.uuids().map(str), "case_id": self.ids, "reason": st.just("pain")},
            optional={"severity": st.just("critical"), "raised_at": self.of({"type": "string", "format": "date-time"})},
        )
        note_body = st.fixed_dictionaries({"text": st.one_of(texts, st.sampled_from(NOTE_TEXTS))})
        return st.fixed_dictionaries(
            {
                "client_op_id": st.uuids().map(lambda u: f"op-{u}"),
                "type": st.sampled_from(["raise_alert", "note", "check_in"]),
                "device_time": self.of({"type": "string", "format": "date-time"}),
                "body": st.one_of(raise_body, note_body),
            },
            optional={"visit_id": self.ids},
        )

    def request(self, operation: Operation, token: str) -> st.SearchStrategy[Request]:
        """A whole request for `operation`, as the role behind `token`."""
        path_values: dict[str, st.SearchStrategy[Any]] = {}
        query: dict[str, st.SearchStrategy[Any]] = {}
        for parameter in operation.parameters:
            if parameter["in"] == "path":
                path_values[parameter["name"]] = self.of(parameter.get("schema", {}))
            elif parameter["in"] == "query":
                query[parameter["name"]] = self.of(parameter.get("schema", {}))
        body: st.SearchStrategy[Any] = st.none()
        if operation.body is not None:
            body = self.of(operation.body)
            if operation.path.endswith("/sync"):
                body = st.fixed_dictionaries({"operations": st.lists(self.sync_operation(), min_size=1, max_size=3)})
            body = st.one_of(body.map(json.dumps), st.just(DEEP_JSON))

        @st.composite
        def build(draw: st.DrawFn) -> Request:
            url = operation.path
            for name, values in path_values.items():
                url = url.replace("{" + name + "}", quote(str(draw(values)), safe=""))
            params = {
                name: _query_text(value) for name, value in draw(st.fixed_dictionaries({}, optional=query)).items()
            }
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
            content = draw(body)
            if content is not None:
                headers["content-type"] = "application/json"
            return Request(operation.method, url, params, headers, content)

        return build()


def _query_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)
