"""people: TOTP secrets sealed at rest

Revision ID: 20261204_0022
Revises: 20261204_0020
Create Date: 2026-12-04 10:00:00

A TOTP secret is now sealed with the service's key (backend.people.federation.sealed), which is
longer than the plain base32 secret. The migration cannot seal the secrets stored in plain text
before (it has no key), so it forgets them and their recovery codes: those admins and coordinators
are asked to set up their authenticator app again at their next password sign-in, as a new one is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0022"
down_revision: str | None = "20261204_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORGET_SECRETS = (
    "DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM users WHERE totp_secret IS NOT NULL)",
    "UPDATE users SET totp_secret = NULL, totp_confirmed_at = NULL, totp_last_step = NULL "
    "WHERE totp_secret IS NOT NULL",
)


def upgrade() -> None:
    for statement in _FORGET_SECRETS:
        op.execute(statement)
    op.alter_column("users", "totp_secret", type_=sa.String(255), existing_nullable=True)


def downgrade() -> None:
    for statement in _FORGET_SECRETS:  # a sealed secret is no plain one: enrol again
        op.execute(statement)
    op.alter_column("users", "totp_secret", type_=sa.String(64), existing_nullable=True)
