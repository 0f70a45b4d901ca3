"""tenancy: citizens and providers' users kept within their municipality

Revision ID: 20261204_0008
Revises: 20261123_0007
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

revision: str = "20261204_0008"
down_revision: str | None = "20261123_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
