"""Is a new OpenAPI document safe for the phones already in the field, compared with the old one?

A phone can never be forced to update, so /mobile/v1 may only grow. `breaking_changes(before,
after)` lists every change an installed app would trip over:

- an operation (method and path) removed, or its operationId changed (the name a client calls);
- a field, parameter or enum value removed, in what the phone sends or in what it reads;
- in what the phone sends: a type narrowed (fewer JSON types, a shorter maximum length, a
  smaller range, a new pattern) or an optional field or parameter made required, or a new
  required one;
- in what the phone reads: a type widened (a null or another type where there was none) or a
  field it could count on made optional.

Additions (operations, optional request fields, answer fields, enum values) pass. Run as
`python -m tests.contract.compat` to write the snapshot anew, on purpose, after an addition.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("mobile_v1.openapi.json")
PREFIX = "/mobile/v1"
METHODS = ("get", "put", "post", "patch", "delete")
# Request constraints that, made stricter, refuse what an installed app may send.
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")

Schema = dict[str, Any]


def mobile_part(document: Schema) -> Schema:
    """The /mobile/v1 operations and every component schema they reach: what the snapshot keeps."""
    paths = {path: item for path, item in document["paths"].items() if path.startswith(PREFIX)}
    components = document.get("components", {}).get("schemas", {})
    wanted: dict[str, Schema] = {}
    todo = _refs(paths)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted[name] = components[name]
            todo |= _refs(components[name])
    return {
        "openapi": document["openapi"],
        "paths": paths,
        "components": {"schemas": dict(sorted(wanted.items()))},
    }


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


class _Compare:
    def __init__(self, before: Schema, after: Schema) -> None:
        self.before = before
        self.after = after
        self.problems: list[str] = []
        self._seen: set[tuple[str, str, bool]] = set()

    def _resolve(self, document: Schema, schema: Schema) -> tuple[Schema, str]:
        """Follow $ref (and Litestar's one-element allOf around one) to the schema itself."""
        name = ""
        while True:
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                schema = document["components"]["schemas"][name]
            elif len(schema.get("allOf", [])) == 1 and "properties" not in schema:
                schema = schema["allOf"][0]
            else:
                return schema, name

    def _alternatives(self, document: Schema, schema: Schema) -> list[tuple[Schema, str]]:
        schema, name = self._resolve(document, schema)
        options = schema.get("oneOf") or schema.get("anyOf")
        if not options:
            return [(schema, name)]
        return [alternative for option in options for alternative in self._alternatives(document, option)]

    @staticmethod
    def _types(schema: Schema) -> set[str]:
        kind = schema.get("type")
        if kind is None:
            return {"any"}
        return set(kind) if isinstance(kind, list) else {kind}

    @staticmethod
    def _not_covered(types: set[str], by: set[str]) -> set[str]:
        """The JSON types in `types` that no type in `by` admits (a number admits every integer)."""
        return {kind for kind in types if kind not in by and not (kind == "integer" and "number" in by)}

    def schema(self, where: str, old: Schema, new: Schema, *, request: bool) -> None:
        """Compare two schemas at `where`; `request` is the direction: what the phone sends, or reads."""
        olds, news = self._alternatives(self.before, old), self._alternatives(self.after, new)
        old_types = set().union(*(self._types(s) for s, _ in olds))
        new_types = set().union(*(self._types(s) for s, _ in news))
        if "any" not in (new_types if request else old_types):
            lost = self._not_covered(old_types, new_types) if request else self._not_covered(new_types, old_types)
            if lost:
                change = "no longer accepts" if request else "may now be"
                self.problems.append(f"{where}: {change} {', '.join(sorted(lost))}")
        for old_one, old_name in olds:
            match = self._counterpart(old_one, old_name, news)
            if match is not None:
                self._one(where, old_one, match[0], request=request, names=(old_name, match[1]))

    def _counterpart(self, old: Schema, name: str, news: list[tuple[Schema, str]]) -> tuple[Schema, str] | None:
        """The alternative of the new schema that stands for `old`: the same kind of JSON value."""
        kinds = self._types(old) - {"null"}
        same = [(s, n) for s, n in news if self._types(s) & kinds]
        return next(((s, n) for s, n in same if n == name), same[0] if same else None)

    def _one(self, where: str, old: Schema, new: Schema, *, request: bool, names: tuple[str, str]) -> None:
        key = (names[0] or json.dumps(old, sort_keys=True), names[1] or json.dumps(new, sort_keys=True), request)
        if key in self._seen:
            return
        self._seen.add(key)
        if "enum" in old:
            removed = [value for value in old["enum"] if value not in new.get("enum", old["enum"])]
            if removed:
                self.problems.append(f"{where}: enum value(s) {removed} removed")
        if request:
            self._bounds(where, old, new)
        if "properties" in old or "properties" in new:
            self._object(where, old, new, request=request)
        if "items" in old and "items" in new:
            self.schema(f"{where}[]", old["items"], new["items"], request=request)
        if isinstance(old.get("additionalProperties"), dict) and isinstance(new.get("additionalProperties"), dict):
            self.schema(f"{where}{{}}", old["additionalProperties"], new["additionalProperties"], request=request)

    def _bounds(self, where: str, old: Schema, new: Schema) -> None:
        for bound in UPPER_BOUNDS:
            if bound in new and (bound not in old or new[bound] < old[bound]):
                self.problems.append(f"{where}: {bound} narrowed to {new[bound]}")
        for bound in LOWER_BOUNDS:
            if bound in new and (bound not in old or new[bound] > old[bound]):
                self.problems.append(f"{where}: {bound} narrowed to {new[bound]}")
        if new.get("pattern") not in (None, old.get("pattern")):
            self.problems.append(f"{where}: pattern changed to {new['pattern']!r}")

    def _object(self, where: str, old: Schema, new: Schema, *, request: bool) -> None:
        old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for field, old_field in old_fields.items():
            if field not in new_fields:
                self.problems.append(f"{where}.{field}: field removed")
                continue
            if request and field in new_required - old_required:
                self.problems.append(f"{where}.{field}: optional field made required")
            if not request and field in old_required - new_required:
                self.problems.append(f"{where}.{field}: field the phone reads made optional")
            self.schema(f"{where}.{field}", old_field, new_fields[field], request=request)
        if request:
            for field in sorted(new_required - old_fields.keys()):
                self.problems.append(f"{where}.{field}: new required field")

    def operation(self, where: str, old: Schema, new: Schema) -> None:
        if old.get("operationId") != new.get("operationId"):
            self.problems.append(f"{where}: operationId {old.get('operationId')} renamed {new.get('operationId')}")
        self._parameters(where, old.get("parameters", []), new.get("parameters", []))
        if "requestBody" in old:
            self._body(where, old["requestBody"], new.get("requestBody"))
        elif new.get("requestBody", {}).get("required"):
            self.problems.append(f"{where}: a body is now required")
        for status, answer in old.get("responses", {}).items():
            if status not in new.get("responses", {}):
                if status.startswith(("2", "3")):
                    self.problems.append(f"{where}: answer {status} removed")
                continue
            for media, content in answer.get("content", {}).items():
                new_content = new["responses"][status].get("content", {}).get(media)
                if new_content is None:
                    self.problems.append(f"{where} {status}: {media} answer removed")
                elif "schema" in content:
                    self.schema(f"{where} {status}", content["schema"], new_content["schema"], request=False)

    def _parameters(self, where: str, old: list[Schema], new: list[Schema]) -> None:
        before = {(p["in"], p["name"]): p for p in old}
        after = {(p["in"], p["name"]): p for p in new}
        for key, parameter in before.items():
            if key not in after:
                self.problems.append(f"{where}: {key[0]} parameter {key[1]} removed")
                continue
            if after[key].get("required") and not parameter.get("required"):
                self.problems.append(f"{where}: {key[0]} parameter {key[1]} made required")
            self.schema(f"{where} {key[1]}", parameter.get("schema", {}), after[key].get("schema", {}), request=True)
        for key in after.keys() - before.keys():
            if after[key].get("required"):
                self.problems.append(f"{where}: new required {key[0]} parameter {key[1]}")

    def _body(self, where: str, old: Schema, new: Schema | None) -> None:
        if new is None:
            self.problems.append(f"{where}: request body removed")
            return
        for media, content in old.get("content", {}).items():
            if media not in new.get("content", {}):
                self.problems.append(f"{where}: {media} body no longer accepted")
            else:
                self.schema(f"{where} body", content["schema"], new["content"][media]["schema"], request=True)


def breaking_changes(before: Schema, after: Schema) -> list[str]:
    """Every change from `before` to `after` that would break an app built against `before`."""
    compare = _Compare(before, after)
    for path, item in before["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            where = f"{method.upper()} {path}"
            new = after["paths"].get(path, {}).get(method)
            if new is None:
                compare.problems.append(f"{where}: operation removed")
            else:
                compare.operation(where, item[method], new)
    return compare.problems


def current_document() -> Schema:
    """The OpenAPI document as the app serves it at /schema/openapi.json (no database needed)."""
    from litestar.serialization import encode_json

    from backend.app import create_app
    from backend.config import Settings

    app = create_app(Settings(database_url="postgresql://unused@/unused", secret_key="contract-" + "x" * 40))
    document: Schema = json.loads(encode_json(app.openapi_schema.to_schema()))
    return document


def write_snapshot() -> None:
    """Take the current /mobile/v1 contract as the one phones rely on (after an addition, on purpose)."""
    SNAPSHOT.write_text(json.dumps(mobile_part(current_document()), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT}")
