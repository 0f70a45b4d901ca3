"""people: TOTP secrets sealed at rest; the phone's SAML sign-in

Revision ID: 20261204_0023
Revises: 20261204_0022
Create Date: 2026-12-04 10:00:00

A TOTP secret is now sealed with the service's key (backend.people.federation.sealed), which is
longer than the plain base32 secret. The migration cannot seal the secrets stored in plain text
before (it has no key), so it forgets them and their recovery codes: those admins and coordinators
are asked to set up their authenticator app again at their next password sign-in, as a new one is.

A sign-in attempt says which protocol it waits on (OpenID Connect or SAML) and, for the phone
app signing in through SAML, keeps the hash of the one-time code the ACS sent the app back with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0023"
down_revision: str | None = "20261204_0022"
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
    op.add_column("sign_in_attempts", sa.Column("protocol", sa.String(8), server_default="oidc", nullable=False))
    op.add_column("sign_in_attempts", sa.Column("code_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("sign_in_attempts", "code_hash")
    op.drop_column("sign_in_attempts", "protocol")
    for statement in _FORGET_SECRETS:  # a sealed secret is no plain one: enrol again
        op.execute(statement)
    op.alter_column("users", "totp_secret", type_=sa.String(64), existing_nullable=True)
