"""readiness and watch: "test my phone", worker heartbeats, gateway health, Lindra's own alarms

Revision ID: 20261204_0021
Revises: 20261204_0020
Create Date: 2026-12-04 09:00:00

Row security (see 20261204_0011): a phone check names a person and her phone, no health data, so
any role of its municipality sees it (the administrator's coverage too); its test SMS is seen
through it. Heartbeats, gateway health and alarms name nobody and have no policy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0021"
down_revision: str | None = "20261204_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEES_ALL = "(SELECT lindra_sees_all())"
_CHECKS = f"{_SEES_ALL} OR municipality_id = ANY (CAST((SELECT lindra_named_municipalities()) AS uuid[]))"
_SMS_BEFORE = f"{_SEES_ALL} OR (SELECT true FROM alerts WHERE alerts.id = sms_messages.alert_id)"
_SMS_AFTER = f"{_SMS_BEFORE} OR (SELECT true FROM phone_checks WHERE phone_checks.id = sms_messages.check_id)"
_KINDS_BEFORE = "kind IN ('alert', 'held_by', 'recall')"
_KINDS_AFTER = "kind IN ('alert', 'held_by', 'recall', 'test', 'watch')"


def _tz(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _sms_rules(policy: str, kinds: str) -> None:
    op.execute("DROP POLICY row_scope ON sms_messages")
    op.execute(f"CREATE POLICY row_scope ON sms_messages USING ({policy}) WITH CHECK ({policy})")
    # The name as 20261204_0016 left it: op.f keeps the naming convention from prefixing it again.
    op.drop_constraint(op.f("ck_sms_messages_kind_allowed"), "sms_messages", type_="check")
    op.create_check_constraint(op.f("ck_sms_messages_kind_allowed"), "sms_messages", kinds)


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("instance", sa.String(128), nullable=False),
        _tz("swept_at", nullable=False),
        sa.PrimaryKeyConstraint("instance", name="pk_worker_heartbeats"),
    )
    op.create_table(
        "gateway_health",
        sa.Column("channel", sa.String(16), nullable=False),
        _tz("failing_since"),
        _tz("last_ok_at"),
        sa.PrimaryKeyConstraint("channel", name="pk_gateway_health"),
    )
    op.create_table(
        "watch_alarms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("fault", sa.String(24), nullable=False),
        _tz("started_at", nullable=False),
        _tz("ended_at"),
        sa.CheckConstraint(
            "fault IN ('worker_silent', 'push_failing', 'sms_gateway_down')", name="ck_watch_alarms_fault_allowed"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_watch_alarms"),
    )
    op.create_index(
        "uq_watch_alarms_open_fault",
        "watch_alarms",
        ["fault"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "phone_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        _tz("created_at", nullable=False),
        sa.Column("push_status", sa.String(16), nullable=False),
        sa.Column("push_attempts", sa.Integer(), nullable=False),
        _tz("push_due_at", nullable=False),
        _tz("push_claimed_until"),
        _tz("push_sent_at"),
        _tz("push_confirmed_at"),
        sa.Column("push_error", sa.String(64)),
        sa.CheckConstraint(
            "push_status IN ('pending', 'sending', 'sent', 'confirmed', 'no_token', 'failed')",
            name="ck_phone_checks_push_status_allowed",
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_phone_checks_municipality_id_organisations"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_phone_checks_user_id_users"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_phone_checks_device_id_devices"),
        sa.PrimaryKeyConstraint("id", name="pk_phone_checks"),
    )
    op.create_index("ix_phone_checks_user_created", "phone_checks", ["user_id", "created_at"])
    op.create_index(
        "ix_phone_checks_push_due", "phone_checks", ["push_due_at"], postgresql_where=sa.text("push_status = 'pending'")
    )
    op.execute("ALTER TABLE phone_checks ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE phone_checks FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY row_scope ON phone_checks USING ({_CHECKS}) WITH CHECK ({_CHECKS})")

    op.add_column("sms_messages", sa.Column("check_id", sa.Uuid()))
    op.add_column("sms_messages", sa.Column("alarm_id", sa.Uuid()))
    op.create_foreign_key("fk_sms_messages_check_id_phone_checks", "sms_messages", "phone_checks", ["check_id"], ["id"])
    op.create_foreign_key("fk_sms_messages_alarm_id_watch_alarms", "sms_messages", "watch_alarms", ["alarm_id"], ["id"])
    op.create_index(
        "uq_sms_messages_alarm_person",
        "sms_messages",
        ["alarm_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("alarm_id IS NOT NULL"),
    )
    op.create_index(
        "ix_sms_messages_check_id", "sms_messages", ["check_id"], postgresql_where=sa.text("check_id IS NOT NULL")
    )
    _sms_rules(_SMS_AFTER, _KINDS_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM sms_messages WHERE kind IN ('test', 'watch')")
    _sms_rules(_SMS_BEFORE, _KINDS_BEFORE)
    op.drop_index("ix_sms_messages_check_id", table_name="sms_messages")
    op.drop_index("uq_sms_messages_alarm_person", table_name="sms_messages")
    op.drop_constraint("fk_sms_messages_alarm_id_watch_alarms", "sms_messages", type_="foreignkey")
    op.drop_constraint("fk_sms_messages_check_id_phone_checks", "sms_messages", type_="foreignkey")
    op.drop_column("sms_messages", "alarm_id")
    op.drop_column("sms_messages", "check_id")
    op.drop_table("phone_checks")
    op.drop_table("watch_alarms")
    op.drop_table("gateway_health")
    op.drop_table("worker_heartbeats")
