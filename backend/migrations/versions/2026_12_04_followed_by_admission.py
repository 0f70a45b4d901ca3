"""alerts: an alert resolved at home that a hospital admission followed within 24 hours

Revision ID: 20261204_0014
Revises: 20261204_0013
Create Date: 2026-12-04 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0014"
down_revision: str | None = "20261204_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("followed_by_admission_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("alerts", "followed_by_admission_at")
