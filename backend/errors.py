"""RFC 9457 problem details for every error, naming the field or the rule that was broken.

400 or 422, by one rule:
- 400 when the request does not parse into the documented shape: not JSON, nested too deeply, a
  missing or unknown field, a wrong type or format, a value out of its documented bounds (length,
  range, pattern, enum), and what the edge refuses for every route (`backend.wire`: a date-time
  without its UTC offset, a date outside 1900-2199, a control character in text, an integer past
  64 bits). The safety net under the edge says the same: a value the database or Python could not
  take (a data error, an overflow) is a 400, never a 500.
- 422 when every value is well-formed but the request breaks a rule of the service: a relation
  between fields (`to` before `from`, a period too long), a date judged against today, a state
  or reference that does not allow it, an Idempotency-Key used for another request.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import asyncpg
from asyncpg.exceptions._base import DataError as ArgumentError  # a query argument asyncpg cannot encode
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("lindra.errors")

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """A request the service refuses. `field` names the input at fault, `rule` the rule broken."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        field: str | None = None,
        rule: str | None = None,
        headers: dict[str, str] | None = None,
        facts: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.rule = rule
        self.headers = headers or {}
        # Values a client needs to say the rule in its own language (e.g. who holds an alert).
        self.facts = facts


def not_found(what: str) -> Problem:
    """One answer for 'does not exist' and 'not yours', so ids cannot be probed."""
    return Problem(404, "Not found", f"No {what} with this id that you may see.")


def _body(request: Request[Any, Any, Any], status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def problem_handler(request: Request[Any, Any, Any], exc: Problem) -> Response[dict[str, Any]]:
    errors = [{"field": exc.field, "message": exc.detail or exc.title}] if exc.field else None
    body = _body(
        request, exc.status, exc.title, exc.detail, field=exc.field, rule=exc.rule, facts=exc.facts, errors=errors
    )
    return _response(body, exc.headers)


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's own validation errors (bad JSON, wrong types, unknown fields), reshaped."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            key = item.get("key")
            field = body_field(message) if key in (None, "data") else _public_name(request, str(key))
            errors.append({"field": field, "message": message, "source": item.get("source")})
    missing = _MISSING.search(exc.detail or "")
    if not errors and missing:
        errors.append({"field": missing.group("name"), "message": "is required", "source": missing.group("source")})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) if errors else exc.detail
    first = errors[0]["field"] if errors else None
    return _response(_body(request, 400, "Invalid request", detail, field=first, errors=errors or None))


def _public_name(request: Request[Any, Any, Any], key: str) -> str:
    """The name the caller used (a query parameter's alias, e.g. `from`), not the handler's argument."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    alias = getattr(parameter.kwarg_definition, "name", None) if parameter is not None else None
    return str(alias or key)


_MISSING = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(unknown|required|invalid) field `(?P<name>[^`]+)`", re.IGNORECASE)


def body_field(message: str) -> str:
    """The dotted path of the body field a msgspec message is about (`$` for the body itself)."""
    at = _AT.search(message)
    path = at.group("path").lstrip(".") if at else ""
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return path or "$"


def http_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    titles = {400: "Invalid request", 401: "Not authenticated"}
    title = titles.get(status) or HTTPStatus(status).phrase
    field = "$" if status == 400 else None  # a body that is not JSON at all
    return _response(_body(request, status, title, exc.detail, field=field), exc.headers)


# The database restarting or failing over: the request may be retried in a moment.
_UNAVAILABLE = (
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    ConnectionError,
    TimeoutError,
)


def _database_unavailable(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, _UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


# A value the request sent that PostgreSQL or Python could not take: out of a column's range, a
# character the database cannot store, a date that overflows when converted, JSON nested too deep to
# decode. The edge (`backend.wire`) refuses these by name; this is the net under it.
_INPUT_FAULTS = (asyncpg.DataError, ArgumentError, OverflowError, RecursionError)


def input_fault(exc: BaseException | None) -> BaseException | None:
    """The value fault behind an exception, if it is one (400, not 500): the request's, not ours."""
    while exc is not None:
        if isinstance(exc, _INPUT_FAULTS):
            return exc
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return None


def internal_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Never a stack trace or SQL in the body; the log keeps the type only (values may be personal).

    A value the database or Python could not take is the request's fault: 400, nothing saved.
    The database being away is said as 503 with Retry-After, so a phone retries (with the same
    Idempotency-Key) instead of giving up: nothing was saved.
    """
    fault = input_fault(exc)
    if fault is not None:
        log.warning("refused %s on %s %s", type(fault).__name__, request.method, request.scope.get("route_handler"))
        if isinstance(fault, RecursionError):
            detail, field = "The body is nested too deeply to read; nothing was saved.", "$"
        else:
            detail, field = "A value is beyond what the service can store or compute with; nothing was saved.", None
        return _response(_body(request, 400, "Invalid request", detail, field=field, rule="value_out_of_range"))
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.scope.get("route_handler"))
    if _database_unavailable(exc):
        body = _body(request, 503, "Service Unavailable", "The database is not reachable just now; nothing was saved.")
        return _response(body, {"Retry-After": "2"})
    return _response(
        _body(
            request,
            HTTP_500_INTERNAL_SERVER_ERROR,
            "Internal error",
            "Something went wrong; nothing was saved.",
        )
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: problem_handler,
    ValidationException: validation_handler,
    HTTPException: http_handler,
    Exception: internal_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "Problem", "not_found"]
