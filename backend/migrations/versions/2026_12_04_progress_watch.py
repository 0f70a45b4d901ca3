"""alerts: the watch on acknowledged alerts that make no progress, and the SMS that recalls the holder

Revision ID: 20261204_0016
Revises: 20261204_0015
Create Date: 2026-12-04 09:00:00

An acknowledged alert carries its own clock (`progress_due_at`): when it runs out the holder is
called again (`recalled_at`, and `recall_sms_due_at` for the SMS if the push goes unconfirmed);
when it runs out a second time the alert returns to the climb. A policy's
`progress_within_minutes` sets the clock (NULL: the severity's built-in default).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0016"
down_revision: str | None = "20261204_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SMS_KINDS = ("'alert', 'held_by'", "'alert', 'held_by', 'recall'")
_REPLY_OUTCOMES = (
    "'acknowledged', 'already_yours', 'held_by_other', 'resolved', 'expired', 'unknown_code', 'foreign_number', "
    "'not_a_reply'",
    "'acknowledged', 'on_the_way', 'already_yours', 'held_by_other', 'resolved', 'expired', 'unknown_code', "
    "'foreign_number', 'not_a_reply'",
)


# Names as 20261204_0013 created them (the naming convention applied twice), and as the models name them.
_NAMES = (
    {
        "sms_messages": "ck_sms_messages_ck_sms_messages_kind_allowed",
        "sms_replies": "ck_sms_replies_ck_sms_replies_outcome_allowed",
    },
    {"sms_messages": "ck_sms_messages_kind_allowed", "sms_replies": "ck_sms_replies_outcome_allowed"},
)


def _checks(old: int, new: int) -> None:
    """Swap the allowed kinds of SMS and outcomes of replies from one version's to the other's."""
    for table, rule in (("sms_messages", "kind IN ({})"), ("sms_replies", "outcome IN ({})")):
        allowed = (_SMS_KINDS if table == "sms_messages" else _REPLY_OUTCOMES)[new]
        op.drop_constraint(op.f(_NAMES[old][table]), table, type_="check")
        op.create_check_constraint(op.f(_NAMES[new][table]), table, rule.format(allowed))


def upgrade() -> None:
    op.add_column("escalation_policies", sa.Column("progress_within_minutes", sa.Integer(), nullable=True))
    for name in ("progress_due_at", "recalled_at", "recall_sms_due_at"):
        op.add_column("alerts", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_alerts_progress_due_at",
        "alerts",
        ["progress_due_at"],
        postgresql_where=sa.text("progress_due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_alerts_recall_sms_due_at",
        "alerts",
        ["recall_sms_due_at"],
        postgresql_where=sa.text("recall_sms_due_at IS NOT NULL"),
    )
    _checks(0, 1)


def downgrade() -> None:
    op.execute("DELETE FROM sms_replies WHERE outcome = 'on_the_way'")
    op.execute("DELETE FROM sms_replies WHERE sms_id IN (SELECT id FROM sms_messages WHERE kind = 'recall')")
    op.execute("DELETE FROM sms_messages WHERE kind = 'recall'")
    _checks(1, 0)
    op.drop_index("ix_alerts_recall_sms_due_at", table_name="alerts")
    op.drop_index("ix_alerts_progress_due_at", table_name="alerts")
    for name in ("recall_sms_due_at", "recalled_at", "progress_due_at"):
        op.drop_column("alerts", name)
    op.drop_column("escalation_policies", "progress_within_minutes")
