"""messages: why a letter failed, as codes the board and the phone can put in words

Revision ID: 20261204_0022
Revises: 20261204_0021
Create Date: 2026-12-04 10:00:00

`failure_code`: refused (the receiver answered fatal-error), no_acknowledgement (the broker took
it, the receiver never answered), not_delivered (the broker never took it). `refusal_code`: the
receiver's MedCom error code. A letter that failed before this revision keeps its reason text only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0022"
down_revision: str | None = "20261204_0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("correspondence", sa.Column("failure_code", sa.String(24)))
    op.add_column("correspondence", sa.Column("refusal_code", sa.String(64)))
    op.create_check_constraint(
        "ck_correspondence_failure_code_allowed",
        "correspondence",
        "failure_code IN ('refused', 'no_acknowledgement', 'not_delivered')",
    )


def downgrade() -> None:
    op.drop_constraint("ck_correspondence_failure_code_allowed", "correspondence", type_="check")
    op.drop_column("correspondence", "refusal_code")
    op.drop_column("correspondence", "failure_code")
