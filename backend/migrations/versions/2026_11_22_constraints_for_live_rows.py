"""constraints for live rows: e-mail reuse after deletion, one primary contact, plan versions

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


def downgrade() -> None:
    op.drop_constraint("uq_action_plans_case_version", "action_plans", type_="unique")
    op.drop_index("uq_relatives_one_primary_contact", table_name="relatives")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
