"""exports: the national data set's bulk export jobs, their NDJSON lines, and pseudonym secrets

Revision ID: 20261204_0019
Revises: 20261204_0018
Create Date: 2026-12-04 09:00:00

Row security (see 20261204_0011): a job is seen within its municipality by a clinical role (the
coordinator who kicked it off and her colleagues), its lines through their job; a pseudonym
secret by the system scope only (the worker that writes the files), never by a request.

A system client of a new role, `care_record` (a municipality's care-record system), reads its
municipality's cases as FHIR: the role joins those `lindra_municipalities()` lets see the
municipality's health rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261204_0019"
down_revision: str | None = "20261204_0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEES_ALL = "(SELECT lindra_sees_all())"
POLICIES = {
    "bulk_exports": f"{_SEES_ALL} OR municipality_id = ANY (CAST((SELECT lindra_municipalities()) AS uuid[]))",
    "bulk_export_lines": f"{_SEES_ALL} OR (SELECT true FROM bulk_exports WHERE bulk_exports.id = export_id)",
    "pseudonym_secrets": _SEES_ALL,
}


_SEEING = "('nurse', 'coordinator', 'key_person', 'palliative_unit', 'aggregates'{})"
_MUNICIPALITIES = """CREATE OR REPLACE FUNCTION lindra_municipalities() RETURNS uuid[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN current_setting('lindra.role', true) IN {roles}
                THEN lindra_named_municipalities()
                ELSE '{{}}'::uuid[] END
$$"""
_ROLE_CHECK = "ck_system_clients_ck_system_clients_role_allowed"  # as the naming convention made it
_CLIENT_ROLES = f"ALTER TABLE system_clients ADD CONSTRAINT {_ROLE_CHECK} CHECK (role IN ({{}}))"


def _tz(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "bulk_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("case_ids", postgresql.ARRAY(sa.Uuid())),
        sa.Column("types_done", postgresql.ARRAY(sa.String(32)), server_default="{}", nullable=False),
        sa.Column("counts", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("claim_token", sa.Uuid()),
        _tz("claimed_until"),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.String(200)),
        _now("requested_at"),
        _tz("started_at"),
        _tz("finished_at"),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="ck_bulk_exports_status_allowed"),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_bulk_exports_municipality_id_organisations"
        ),
        sa.ForeignKeyConstraint(["requested_by"], ["users.id"], name="fk_bulk_exports_requested_by_users"),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_exports"),
    )
    op.create_index(
        "ix_bulk_exports_waiting",
        "bulk_exports",
        ["requested_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index("ix_bulk_exports_municipality", "bulk_exports", ["municipality_id", "requested_at"])
    op.create_table(
        "bulk_export_lines",
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["bulk_exports.id"],
            name="fk_bulk_export_lines_export_id_bulk_exports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "resource_type", "line_no", name="pk_bulk_export_lines"),
    )
    op.create_table(
        "pseudonym_secrets",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        _now("created_at"),
        sa.CheckConstraint("source IN ('generated', 'operator')", name="ck_pseudonym_secrets_source_allowed"),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_pseudonym_secrets_municipality_id_organisations"
        ),
        sa.PrimaryKeyConstraint("municipality_id", name="pk_pseudonym_secrets"),
    )
    op.execute(f"ALTER TABLE system_clients DROP CONSTRAINT {_ROLE_CHECK}")
    op.execute(_CLIENT_ROLES.format("'inbox', 'care_record'"))
    op.execute(_MUNICIPALITIES.format(roles=_SEEING.format(", 'care_record'")))
    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY row_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    op.execute(_MUNICIPALITIES.format(roles=_SEEING.format("")))
    op.execute("DELETE FROM system_clients WHERE role = 'care_record'")
    op.execute(f"ALTER TABLE system_clients DROP CONSTRAINT {_ROLE_CHECK}")
    op.execute(_CLIENT_ROLES.format("'inbox'"))
    op.drop_table("pseudonym_secrets")
    op.drop_table("bulk_export_lines")
    op.drop_table("bulk_exports")
