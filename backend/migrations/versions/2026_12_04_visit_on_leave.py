"""messages: whether a municipality visits a citizen on leave from hospital

Revision ID: 20261204_0015
Revises: 20261204_0014
Create Date: 2026-12-04 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0015"
down_revision: str | None = "20261204_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message_settings", sa.Column("visit_on_leave", sa.Boolean(), server_default="false", nullable=False))


def downgrade() -> None:
    op.drop_column("message_settings", "visit_on_leave")
