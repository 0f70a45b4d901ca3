"""constraints for live rows: e-mail reuse after deletion, one primary contact, plan versions;
the audit log points at users and cases without foreign keys, so it outlives them

Revision ID: 20261122_0002
Revises: 20261122_0001
Create Date: 2026-11-22 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261122_0002"
down_revision: str | None = "20261122_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUDIT_FOREIGN_KEYS = (
    "fk_audit_log_user_id_users",
    "fk_audit_log_case_id_cases",
    "fk_audit_log_subject_user_id_users",
)


def upgrade() -> None:
    op.drop_index("uq_users_email_lower", table_name="users")
    op.create_index(
        "uq_users_email_lower",
        "users",
        [sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "uq_relatives_one_primary_contact",
        "relatives",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("primary_contact AND removed_at IS NULL"),
    )
    op.create_unique_constraint("uq_action_plans_case_version", "action_plans", ["case_id", "version"])
    for name in _AUDIT_FOREIGN_KEYS:
        op.drop_constraint(name, "audit_log", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("fk_audit_log_user_id_users", "audit_log", "users", ["user_id"], ["id"])
    op.create_foreign_key("fk_audit_log_case_id_cases", "audit_log", "cases", ["case_id"], ["id"])
    op.create_foreign_key("fk_audit_log_subject_user_id_users", "audit_log", "users", ["subject_user_id"], ["id"])
    op.drop_constraint("uq_action_plans_case_version", "action_plans", type_="unique")
    op.drop_index("uq_relatives_one_primary_contact", table_name="relatives")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
