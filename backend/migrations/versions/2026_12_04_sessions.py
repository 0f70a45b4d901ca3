"""sessions: refresh-token families, one-time password codes, password changes

Revision ID: 20261204_0009
Revises: 20261204_0008
Create Date: 2026-12-04 06:00:00

- `rotated_refresh_tokens`: every refresh token a device swapped, hashed, so that any of them
  presented again signs the device out (not only the last one). Each device's last swapped
  token is copied in.
- `devices.device_key_hash`: the phone's own secret, which proves a retried refresh is the phone's.
- `password_codes`: one-time codes mailed to a user to choose her own password.
- `users.password_hash` may be empty (invited, or reset and not yet chosen);
  `users.password_change_required` is set for every user there already is, since until now an
  administrator chose every password; except the demo loader's logins (`@demo.lindra.dk`, made by
  `lindra demo`, never by an administrator), so that the demo's password keeps working.
- `login_throttles` is keyed by e-mail and client address as well as by e-mail alone; its
  column is renamed `key`, and the counts there were are dropped (they are minutes old at most).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0009"
down_revision: str | None = "20261204_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rotated_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_rotated_refresh_tokens_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_rotated_refresh_tokens")),
    )
    op.create_index(op.f("ix_rotated_refresh_tokens_device_id"), "rotated_refresh_tokens", ["device_id"], unique=False)
    op.execute(
        "INSERT INTO rotated_refresh_tokens (token_hash, device_id, rotated_at) "
        "SELECT previous_refresh_hash, id, coalesce(last_used_at, created_at) FROM devices "
        "WHERE previous_refresh_hash IS NOT NULL ON CONFLICT DO NOTHING"
    )
    op.add_column("devices", sa.Column("device_key_hash", sa.String(length=64), nullable=True))

    op.create_table(
        "password_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('invite', 'reset')", name=op.f("ck_password_codes_purpose_allowed")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_password_codes_code_hash")),
    )
    op.create_index(op.f("ix_password_codes_user_id"), "password_codes", ["user_id"], unique=False)

    op.alter_column("users", "password_hash", existing_type=sa.String(length=200), nullable=True)
    op.add_column(
        "users",
        sa.Column("password_change_required", sa.Boolean(), server_default="false", nullable=False),
    )
    op.execute("UPDATE users SET password_change_required = true WHERE email NOT ILIKE '%@demo.lindra.dk'")

    op.execute("DELETE FROM login_throttles")
    op.alter_column("login_throttles", "email_key", new_column_name="key")


def downgrade() -> None:
    op.execute("DELETE FROM login_throttles")
    op.alter_column("login_throttles", "key", new_column_name="email_key")
    op.drop_column("users", "password_change_required")
    # A user without a password cannot log in before or after: an unusable hash keeps it so.
    op.execute("UPDATE users SET password_hash = '!' WHERE password_hash IS NULL")
    op.alter_column("users", "password_hash", existing_type=sa.String(length=200), nullable=False)
    op.drop_index(op.f("ix_password_codes_user_id"), table_name="password_codes")
    op.drop_table("password_codes")
    op.drop_column("devices", "device_key_hash")
    op.drop_index(op.f("ix_rotated_refresh_tokens_device_id"), table_name="rotated_refresh_tokens")
    op.drop_table("rotated_refresh_tokens")
