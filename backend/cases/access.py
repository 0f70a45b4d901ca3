"""Who may see which case: the one rule, used by every case query.

A nurse sees the cases of her districts; coordinators and key persons their municipality's; the
palliative unit the cases of the municipalities it serves once referred (or escalated) to it;
admins no health records at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, text

from backend.people.actor import Actor
from backend.people.models import Role

CLINICAL_ROLES = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON, Role.PALLIATIVE_UNIT})
CASE_MANAGERS = frozenset({Role.COORDINATOR, Role.KEY_PERSON})
CARE_GIVERS = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON})

_SCOPE_SQL = {
    Role.NURSE: "cases.district_id = ANY(CAST(:scope_districts AS uuid[]))",
    Role.COORDINATOR: "cases.municipality_id = :scope_municipality",
    Role.KEY_PERSON: "cases.municipality_id = :scope_municipality",
    Role.PALLIATIVE_UNIT: (
        "cases.municipality_id = ANY(CAST(:scope_served AS uuid[])) AND cases.unit_referred_at IS NOT NULL"
    ),
}


def scope_sql(actor: Actor) -> tuple[str, dict[str, Any]]:
    """The WHERE fragment (over the `cases` table) and its parameters for this actor."""
    sql = _SCOPE_SQL.get(actor.role, "false")
    params: dict[str, Any] = {}
    if ":scope_districts" in sql:
        params["scope_districts"] = list(actor.district_ids)
    if ":scope_municipality" in sql:
        params["scope_municipality"] = actor.municipality_id
    if ":scope_served" in sql:
        params["scope_served"] = list(actor.served_municipality_ids)
    return sql, params


def case_scope(actor: Actor) -> ColumnElement[bool]:
    """The same rule as a SQLAlchemy clause, for queries built with the expression language."""
    sql, params = scope_sql(actor)
    return text(sql).bindparams(**params)  # type: ignore[return-value]
