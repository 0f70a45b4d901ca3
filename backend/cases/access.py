"""Who may see which case: the one rule, used by every case query.

A nurse sees the cases of her districts; coordinators and key persons their municipality's; the
palliative unit the cases of the municipalities it serves once referred to it, or once an alert's
tier called it; admins no health records at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, TextClause, text

from backend.people.actor import Actor
from backend.people.models import Role

CLINICAL_ROLES = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON, Role.PALLIATIVE_UNIT})
CASE_MANAGERS = frozenset({Role.COORDINATOR, Role.KEY_PERSON})
CARE_GIVERS = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON})


def scope_value(actor: Actor) -> Any:
    """The one value an actor's scope binds: her districts, her municipality, or the municipalities
    the unit serves (None for a role that sees no case)."""
    if actor.role == Role.NURSE:
        return list(actor.district_ids)
    if actor.role in CASE_MANAGERS:
        return actor.municipality_id
    if actor.role == Role.PALLIATIVE_UNIT:
        return list(actor.served_municipality_ids)
    return None


def _scope_template(role: Role, placeholder: str) -> str:
    if role == Role.NURSE:
        return f"cases.district_id = ANY(CAST({placeholder} AS uuid[]))"
    if role in CASE_MANAGERS:
        return f"cases.municipality_id = {placeholder}"
    if role == Role.PALLIATIVE_UNIT:
        return (
            f"cases.municipality_id = ANY(CAST({placeholder} AS uuid[])) AND (cases.unit_referred_at IS NOT NULL"
            " OR EXISTS (SELECT 1 FROM alerts WHERE alerts.case_id = cases.id AND alerts.unit_notified_at IS NOT NULL))"
        )
    return "false"


def scope_sql(actor: Actor, bind: Callable[[Any], str]) -> str:
    """The WHERE fragment over the `cases` table for this actor; `bind` turns a value into a placeholder."""
    value = scope_value(actor)
    return "false" if value is None else _scope_template(actor.role, bind(value))


def case_scope(actor: Actor) -> ColumnElement[bool]:
    """The same rule as a SQLAlchemy clause, for queries built with the expression language."""
    value = scope_value(actor)
    clause = role_scope(actor.role)
    return clause if value is None else clause.bindparams(scope=value)  # type: ignore[return-value]


@functools.cache
def role_scope(role: Role) -> TextClause:
    """`case_scope` for a statement built once for every actor of a role: bind `scope_value(actor)`
    as `scope` when it runs (building a statement costs more than running it)."""
    return text(_scope_template(role, ":scope"))


class Positional:
    """Numbered parameters ($1, $2, ...) for statements sent straight to asyncpg."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"
