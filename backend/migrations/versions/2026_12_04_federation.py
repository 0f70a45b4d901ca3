"""people: sign-in with a municipality's identity provider; an administrator can disable a user

Revision ID: 20261204_0017
Revises: 20261204_0016
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261204_0017"
down_revision: str | None = "20261204_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "oidc_providers",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret_sealed", sa.String(length=2000), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_oidc_providers_municipality_id_organisations")
        ),
        sa.PrimaryKeyConstraint("municipality_id", name=op.f("pk_oidc_providers")),
    )
    op.create_table(
        "federation_mappings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=8), nullable=False),
        sa.Column("claim", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("district_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_federation_mappings_municipality_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federation_mappings")),
        sa.UniqueConstraint("municipality_id", "provider", "claim", name=op.f("uq_federation_mappings_claim_once")),
    )
    op.create_index(
        op.f("ix_federation_mappings_municipality_id"), "federation_mappings", ["municipality_id"], unique=False
    )
    op.create_table(
        "federated_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("assurance", sa.String(length=32), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_federated_links_municipality_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_federated_links_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_links")),
        sa.UniqueConstraint("municipality_id", "provider", "subject", name=op.f("uq_federated_links_subject_once")),
    )
    op.create_index(op.f("ix_federated_links_user_id"), "federated_links", ["user_id"], unique=False)
    op.create_table(
        "federated_devices",
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column("refresh_token_sealed", sa.String(length=8000), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_federated_devices_device_id_devices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["federated_links.id"],
            name=op.f("fk_federated_devices_link_id_federated_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_federated_devices")),
    )
    op.create_index(op.f("ix_federated_devices_link_id"), "federated_devices", ["link_id"], unique=False)
    op.create_index(op.f("ix_federated_devices_session_id"), "federated_devices", ["session_id"], unique=False)
    op.create_table(
        "sign_in_attempts",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("client", sa.String(length=8), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_challenge", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("link_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.String(length=255), nullable=True),
        sa.Column("refresh_token_sealed", sa.String(length=8000), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["organisations.id"],
            name=op.f("fk_sign_in_attempts_municipality_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_in_attempts_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["federated_links.id"],
            name=op.f("fk_sign_in_attempts_link_id_federated_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(op.f("ix_sign_in_attempts_expires_at"), "sign_in_attempts", ["expires_at"], unique=False)


def downgrade() -> None:
    for table in ("sign_in_attempts", "federated_devices", "federated_links", "federation_mappings", "oidc_providers"):
        op.drop_table(table)
    op.drop_column("users", "disabled_at")
