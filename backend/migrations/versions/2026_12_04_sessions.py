"""sessions: refresh-token families, one-time password codes, password changes

Revision ID: 20261204_0009
Revises: 20261204_0008
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

revision: str = "20261204_0009"
down_revision: str | None = "20261204_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
