"""Who may see which case: the one rule, used by every case query.

A nurse sees the cases of her districts; coordinators and key persons their municipality's; the
palliative unit the cases of the municipalities it serves once referred to it, or once an alert's
tier called it; admins no health records at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, text

from backend.people.actor import Actor
from backend.people.models import Role

CLINICAL_ROLES = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON, Role.PALLIATIVE_UNIT})
CASE_MANAGERS = frozenset({Role.COORDINATOR, Role.KEY_PERSON})
CARE_GIVERS = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON})


def scope_sql(actor: Actor, bind: Callable[[Any], str]) -> str:
    """The WHERE fragment over the `cases` table for this actor; `bind` turns a value into a placeholder."""
    if actor.role == Role.NURSE:
        return f"cases.district_id = ANY(CAST({bind(list(actor.district_ids))} AS uuid[]))"
    if actor.role in CASE_MANAGERS:
        return f"cases.municipality_id = {bind(actor.municipality_id)}"
    if actor.role == Role.PALLIATIVE_UNIT:
        served = bind(list(actor.served_municipality_ids))
        return (
            f"cases.municipality_id = ANY(CAST({served} AS uuid[])) AND (cases.unit_referred_at IS NOT NULL"
            " OR EXISTS (SELECT 1 FROM alerts WHERE alerts.case_id = cases.id AND alerts.unit_notified_at IS NOT NULL))"
        )
    return "false"


class Positional:
    """Numbered parameters ($1, $2, ...) for statements sent straight to asyncpg."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def case_scope(actor: Actor) -> ColumnElement[bool]:
    """The same rule as a SQLAlchemy clause, for queries built with the expression language."""
    params: dict[str, Any] = {}

    def bind(value: Any) -> str:
        name = f"scope_{len(params)}"
        params[name] = value
        return f":{name}"

    return text(scope_sql(actor, bind)).bindparams(**params)  # type: ignore[return-value]
