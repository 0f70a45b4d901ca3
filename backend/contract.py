"""What the OpenAPI document promises clients: the errors each operation answers, and its name.

Generated clients (the phone app's among them) are built from /schema/openapi.json, so the
document must say what the service really does. Two things Litestar cannot know are added here
once for every route, by rule, when the app is built:

- Every error is an RFC 9457 problem (`backend.errors`) under `application/problem+json`, one
  shared `Problem` schema. Which statuses a route documents follows from what it is (the rules of
  `problem_statuses`), not from a list kept by hand beside each route.
- Every operation is named by its handler, camelCased (`raise_alert` -> `raiseAlert`); a handler
  that needs another name says so with `operation_id=` in its decorator.
- Every idempotent write documents `Idempotency-Replayed`, the header a retried request's answer
  carries (the first answer's status and body again).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, get_args

from litestar import Litestar
from litestar.constants import RESERVED_KWARGS
from litestar.datastructures import ResponseHeader
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.types import Method
from litestar.types.internal_types import PathParameterDefinition
from msgspec import UNSET, Struct, UnsetType, structs

from backend.errors import PROBLEM_JSON
from backend.idempotency import REPLAYED_HEADER
from backend.people.actor import PUBLIC


class FieldError(Struct, kw_only=True):
    """One input at fault in a refused request."""

    field: str  # the dotted path of the body field ("visits.0.note"), or the parameter's public name
    message: str
    source: str | UnsetType | None = UNSET  # body, query, header or path, for Litestar's own validation


class Problem(Struct, kw_only=True):
    """RFC 9457 problem details: the body of every error answer (see `backend.errors`)."""

    type: str  # always "about:blank": the status and title say what happened
    title: str
    status: int
    detail: str
    instance: str  # the request's path
    field: str | UnsetType = UNSET  # the input at fault
    rule: str | UnsetType = UNSET  # the rule broken, as a stable code ("status_transition")
    facts: dict[str, str] | UnsetType = UNSET  # values to say the rule in the client's own words
    errors: list[FieldError] | UnsetType = UNSET


# Why each status is answered, as the document's description of it.
MEANINGS = {
    400: "The request is malformed: a parameter or body field has the wrong type or form (`field` names it).",
    401: "No valid login: the access token is missing, expired, or its device was signed out.",
    403: "Logged in, but this role (or this person) may not do this.",
    404: "No such record that you may see (one answer for both, so ids cannot be probed).",
    409: "The record is not in a state that allows this just now (`rule` says which).",
    413: "The body is too large.",
    415: "The body's Content-Encoding is neither absent nor gzip.",
    422: "Well-formed but refused by a rule (`field` or `rule` says which), or the Idempotency-Key was "
    "used before for another request.",
    429: "Too many failed attempts; Retry-After says when to try again.",
    503: "The database is not reachable just now; nothing was saved. Retry after Retry-After seconds "
    "with the same Idempotency-Key.",
}

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Dependencies that reach the database: a route taking one answers 503 while it is away.
DATABASE = frozenset({"db", "pg", "read", "write", "actor", "state"})

# What public routes answer beyond the rules: they check credentials of their own, or none.
PUBLIC_PROBLEMS: dict[str, frozenset[int]] = {
    # A wrong password; a new password is due, or the one chosen is refused; locked after failures.
    "/auth/login": frozenset({401, 403, 422, 429}),
    # The password chosen is refused; an admin's or coordinator's code is due, wrong or locked;
    # her organisation switched passwords off.
    "/auth/password": frozenset({401, 403, 422, 429}),
    # A wrong password; passwords switched off; set up already; not needed; locked after failures.
    "/auth/second-factor/enrol": frozenset({401, 403, 409, 422, 429}),
    "/auth/second-factor/confirm": frozenset({401, 403, 429}),
    "/auth/refresh": frozenset({401}),
    # Signing in at a municipality's provider: none there (404), it is down (503), its answer
    # fails a check (401), the person has no access (403), the state is unknown or used (400).
    "/auth/oidc/start": frozenset({404, 422, 503}),
    "/auth/oidc/token": frozenset({400, 401, 403, 404, 503}),
    "/auth/oidc/collect": frozenset({400, 401}),
    "/auth/oidc/backchannel-logout/{municipality_id:uuid}": frozenset({400, 404, 503}),
    # SAML: a response refused (signature, audience, replay, assurance ...), or no role mapping yet.
    "/auth/saml/{municipality_id:uuid}/acs": frozenset({401, 403}),
    "/metrics": frozenset({401}),  # when LINDRA_METRICS_TOKEN is set
    "/ready": frozenset({503}),
}


def operation_id(handler: HTTPRouteHandler, method: Method, path: list[str | PathParameterDefinition]) -> str:
    """The handler's name in camelCase (`get_my_shift` -> `getMyShift`): readable, and stable while the
    handler keeps its name. Litestar refuses two operations with one id when it builds the document."""
    first, *rest = handler.handler_name.split("_")
    return first + "".join(word.title() for word in rest)


def _parameters(handler: HTTPRouteHandler) -> Iterator[tuple[str, Any]]:
    """Every (name, annotation) the handler and the dependencies it takes declare."""
    providers = handler.resolve_dependencies()
    todo = list(handler.parsed_fn_signature.parameters.items())
    seen: set[str] = set()
    while todo:
        name, parameter = todo.pop()
        yield name, parameter.annotation
        if name in providers and name not in seen:
            seen.add(name)
            todo.extend(providers[name].parsed_fn_signature.parameters.items())


def _public_names(handler: HTTPRouteHandler) -> set[str]:
    """The names the handler's parameters go by on the wire (a query parameter's alias, e.g. `from`)."""
    parameters = handler.parsed_fn_signature.parameters
    return {getattr(parameter.kwarg_definition, "name", None) or name for name, parameter in parameters.items()}


def _names_a_record(annotation: Any, *, top: bool = True) -> bool:
    """Whether an input is the id of a record that may not exist, or a body that must name one at its top."""
    if annotation is uuid.UUID:
        return True
    if top and isinstance(annotation, type) and issubclass(annotation, Struct):
        return any(
            field.required and field.name.endswith("_id") and _names_a_record(field.type, top=False)
            for field in structs.fields(annotation)
        )
    return any(_names_a_record(argument, top=top) for argument in get_args(annotation))


def problem_statuses(path: str, handler: HTTPRouteHandler) -> frozenset[int]:
    """The error statuses a route can answer, by what the route is.

    Every route that reads input (parameters, a body, the Idempotency-Key) can refuse it as 400;
    every route behind a login answers 401 without one and 403 to a role it does not allow (and
    400 to a token in the URL); a route that names a record by id (in its path, a query
    parameter, or a required field at the top of its body) answers 404 when it is not there or
    not yours; an idempotent write (one taking `write`) can find the record in the wrong state
    (409), break a rule (422) or reuse an Idempotency-Key (422); a route that reads a period
    (`from` and `to`) refuses one whose `to` is before its `from`, or that is too long (422); a
    body can be too large (413) or wrongly encoded (415); a route that reaches the database
    answers 503 while it is away.
    Public routes check credentials of their own, or none: `PUBLIC_PROBLEMS` says what they add.
    """
    public = handler.opt.get("roles") == PUBLIC
    dependencies = handler.resolve_dependencies()
    parameters = dict(_parameters(handler))
    inputs = {
        name: annotation
        for name, annotation in parameters.items()
        if name not in dependencies and (name == "data" or name not in RESERVED_KWARGS)
    }
    statuses: set[int] = set(PUBLIC_PROBLEMS.get(path, ())) if public else {400, 401, 403}
    if inputs:
        statuses.add(400)
    if any(_names_a_record(annotation) for annotation in inputs.values()):
        statuses.add(404)
    if handler.http_methods & WRITES and "write" in parameters:
        statuses |= {409, 422}
    if {"from", "to"} <= _public_names(handler):
        statuses.add(422)
    if "data" in inputs:
        statuses |= {413, 415}
    if not public or DATABASE & parameters.keys():
        statuses.add(503)
    return frozenset(statuses)


def document_problems(app: Litestar) -> None:
    """Give every documented route its problem responses, replacing Litestar's own error schema.

    Run once when the app is built; the document itself is still generated only when asked for.
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            responses = dict(handler.responses or {})
            for status in sorted(problem_statuses(route.path, handler)):
                responses.setdefault(
                    status,
                    ResponseSpec(
                        Problem, description=MEANINGS[status], media_type=PROBLEM_JSON, generate_examples=False
                    ),
                )
            handler.responses = responses
            if handler.http_methods & WRITES and "write" in handler.parsed_fn_signature.parameters:
                handler.response_headers = [*(handler.response_headers or []), REPLAYED]


REPLAYED = ResponseHeader(
    name=REPLAYED_HEADER,
    value="true",
    documentation_only=True,
    description="Present (`true`) when this answer repeats the first answer to the same Idempotency-Key: "
    "the request was a retry and changed nothing.",
)
