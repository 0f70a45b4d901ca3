"""sms: a work mobile per person, the SMS outbox and the replies

Revision ID: 20261204_0013
Revises: 20261204_0012
Create Date: 2026-12-04 08:00:00

Row security (see 20261204_0011): an SMS and a reply name an alert, so they are seen through
their alert like the other alert tables; a row about no alert (a reply with an unknown code) is
seen by the system scope only, which is the scope of the sweep, the sender and Kannel's
endpoints. The mobile number is a column of `users`, which has no policy (read at login).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0013"
down_revision: str | None = "20261204_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_THROUGH_ALERT = "(SELECT lindra_sees_all()) OR (SELECT true FROM alerts WHERE alerts.id = {table}.alert_id)"
POLICIES = {table: _THROUGH_ALERT.format(table=table) for table in ("sms_messages", "sms_replies")}


def _tz(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("users", sa.Column("mobile", sa.String(16), nullable=True))
    op.add_column("alert_targets", _tz("sms_due_at"))
    op.create_index(
        "ix_alert_targets_sms_due_at",
        "alert_targets",
        ["sms_due_at"],
        postgresql_where=sa.text("sms_due_at IS NOT NULL"),
    )
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid()),
        sa.Column("climb", sa.Integer()),
        sa.Column("tier", sa.Integer()),
        sa.Column("code", sa.String(16)),
        sa.Column("body", sa.String(320), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _tz("created_at", nullable=False),
        _tz("due_at", nullable=False),
        _tz("claimed_until"),
        _tz("sent_at"),
        _tz("delivered_at"),
        _tz("failed_at"),
        sa.Column("error", sa.String(64)),
        sa.CheckConstraint("kind IN ('alert', 'held_by')", name="ck_sms_messages_kind_allowed"),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'delivered', 'failed', 'cancelled')", name="ck_sms_messages_status_allowed"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sms_messages_user_id_users"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name="fk_sms_messages_alert_id_alerts"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_messages"),
    )
    op.create_index(
        "uq_sms_messages_alert_person",
        "sms_messages",
        ["alert_id", "climb", "user_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'alert'"),
    )
    op.create_index("ix_sms_messages_due", "sms_messages", ["due_at"], postgresql_where=sa.text("status = 'queued'"))
    op.create_index("ix_sms_messages_code", "sms_messages", ["code"], postgresql_where=sa.text("code IS NOT NULL"))
    op.create_index("ix_sms_messages_alert_id", "sms_messages", ["alert_id"])
    op.create_table(
        "sms_replies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("gateway_id", sa.String(64), nullable=False),
        _tz("received_at", nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("sms_id", sa.Uuid()),
        sa.Column("alert_id", sa.Uuid()),
        sa.CheckConstraint(
            "outcome IN ('acknowledged', 'already_yours', 'held_by_other', 'resolved', 'expired', 'unknown_code', "
            "'foreign_number', 'not_a_reply')",
            name="ck_sms_replies_outcome_allowed",
        ),
        sa.ForeignKeyConstraint(["sms_id"], ["sms_messages.id"], name="fk_sms_replies_sms_id_sms_messages"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name="fk_sms_replies_alert_id_alerts"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_replies"),
        sa.UniqueConstraint("gateway_id", name="uq_sms_replies_gateway_id"),
    )
    op.create_index("ix_sms_replies_alert_id", "sms_replies", ["alert_id"])
    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY row_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    op.drop_table("sms_replies")
    op.drop_table("sms_messages")
    op.drop_index("ix_alert_targets_sms_due_at", table_name="alert_targets")
    op.drop_column("alert_targets", "sms_due_at")
    op.drop_column("users", "mobile")
