"""privacy: what the logs and aggregates may hold

Revision ID: 20261204_0010
Revises: 20261204_0009
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

revision: str = "20261204_0010"
down_revision: str | None = "20261204_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
