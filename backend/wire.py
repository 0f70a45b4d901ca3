"""The rules every value from the wire passes, whatever route it comes in by.

One reading for the whole API, applied at the edge so that no use case meets a value it cannot
store or compute with:
- a date-time carries its UTC offset (`Z` or `+01:00`): a phone in another time zone, or one that
  sends its wall clock, is refused rather than guessed at;
- dates and date-times lie within years 1900-2199 (in UTC): room for every birth, deadline and
  expiry, far from the ends of Python's and PostgreSQL's calendars, so a day added or a zone
  changed never overflows;
- text holds no control characters but tab, line feed and carriage return (no NUL, which
  PostgreSQL cannot store, no escape sequences, no C1 controls, no lone surrogates);
- integers fit in 64 signed bits, as every integer column does.

Request bodies get this from `Input`, the base of every request struct: after msgspec has
decoded a struct by its types, its fields are checked here, and a refusal is a msgspec validation
error naming the field, answered like any other (400). Query and path parameters and values
a service parses itself (cursors, `shift=`) pass `checked`, which raises the same 400 problem.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime
from typing import TypeVar

import msgspec

from backend.errors import Problem

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
INT64 = 2**63 - 1

# C0 controls but tab, LF and CR; DEL and the C1 controls; UTF-16 surrogates (never valid alone).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

T = TypeVar("T")


def fault(value: object) -> str | None:
    """What is wrong with one scalar value from the wire, in words for the caller; None if nothing."""
    if isinstance(value, str):
        return "holds a control character" if _CONTROL.search(value) else None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return "is a date-time without its UTC offset (add Z or e.g. +01:00)"
        try:
            day = value.astimezone(UTC).date()
        except OverflowError:
            day = date.min
        return None if EARLIEST <= day <= LATEST else f"is outside {EARLIEST.year}-{LATEST.year} (UTC)"
    if isinstance(value, date):
        return None if EARLIEST <= value <= LATEST else f"is outside the years {EARLIEST.year}-{LATEST.year}"
    if isinstance(value, int) and not isinstance(value, bool):
        return None if -INT64 - 1 <= value <= INT64 else "does not fit in 64 bits"
    return None


def faults(value: object, path: str) -> tuple[str, str] | None:
    """The first (path, fault) in a value and what it holds (lists, dicts, nested structs)."""
    if isinstance(value, Input):
        return None  # checked itself when it was decoded
    if isinstance(value, msgspec.Struct):
        for name, wire_name in zip(value.__struct_fields__, value.__struct_encode_fields__, strict=True):
            found = faults(getattr(value, name), f"{path}.{wire_name}" if path else wire_name)
            if found:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = faults(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = faults(key, path) or faults(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[...]")
            if found:
                return found
        return None
    wrong = fault(value)
    return (path, wrong) if wrong else None


def checked(value: T, field: str) -> T:
    """`value` if it passes the rules above; else a 400 problem naming `field` (query and path parameters)."""
    found = faults(value, field)
    if found:
        raise Problem(400, "Invalid request", f"`{found[0]}` {found[1]}.", field=found[0])
    return value


@functools.cache
def _checked_fields(cls: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    """The fields of a request struct that the rules apply to: all but those typed `Any` (raw JSON
    handed on to be decoded later by another struct, e.g. a sync operation's body)."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple((field.name, field.encode_name) for field in info.fields if not _holds_any(field.type))


def _holds_any(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.AnyType):
        return True
    inner = [getattr(kind, name, None) for name in ("item_type", "key_type", "value_type")]
    inner += list(getattr(kind, "types", ()))
    return any(isinstance(item, msgspec.inspect.Type) and _holds_any(item) for item in inner)


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are an error, not silently dropped, and every
    value passes the rules above (a refusal names the field, as msgspec's own errors do)."""

    def __post_init__(self) -> None:
        for name, wire_name in _checked_fields(type(self)):
            found = faults(getattr(self, name), wire_name)
            if found:
                raise ValueError(f"Invalid field `{found[0]}`: {found[1]}")
