"""people: password sign-in per organisation, TOTP second factor, recovery codes, SAML assertions seen

Revision ID: 20261204_0018
Revises: 20261204_0017
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0018"
down_revision: str | None = "20261204_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "organisations",
        sa.Column("password_sign_in", sa.String(length=16), server_default="second_factor", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_organisations_password_sign_in_allowed"),
        "organisations",
        "password_sign_in IN ('second_factor', 'off', 'password_alone')",
    )
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_recovery_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_user_id"), "recovery_codes", ["user_id"])
    op.create_table(
        "saml_assertions_seen",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_saml_assertions_seen")),
    )
    op.create_index(op.f("ix_saml_assertions_seen_expires_at"), "saml_assertions_seen", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_saml_assertions_seen_expires_at"), table_name="saml_assertions_seen")
    op.drop_table("saml_assertions_seen")
    op.drop_index(op.f("ix_recovery_codes_user_id"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_confirmed_at")
    op.drop_column("users", "totp_secret")
    op.drop_constraint(op.f("ck_organisations_password_sign_in_allowed"), "organisations", type_="check")
    op.drop_column("organisations", "password_sign_in")
