"""messages: correspondence (MedCom CareCommunication) on a case, in and out

Revision ID: 20261204_0020
Revises: 20261204_0019
Create Date: 2026-12-04 09:00:00

Row security: a letter and its segments are a citizen's health rows, seen by municipality like a
case; a person's read marks by the letter they mark. The outbox now carries letters (a CPR number,
a name, the text) besides acknowledgements (which name no one): a letter's sends are seen by whoever
sees the letter, an acknowledgement's by the system scope alone (the worker). The care team's GP
and hospital department get their SOR and EAN identifiers, the municipality its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0020"
down_revision: str | None = "20261204_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEES_ALL = "(SELECT lindra_sees_all())"
_BY_MUNICIPALITY = f"{_SEES_ALL} OR municipality_id = ANY (CAST((SELECT lindra_municipalities()) AS uuid[]))"
POLICIES = {
    "correspondence": _BY_MUNICIPALITY,
    "correspondence_segments": _BY_MUNICIPALITY,
    "correspondence_reads": (
        f"{_SEES_ALL} OR (SELECT true FROM correspondence"
        " WHERE correspondence.id = correspondence_reads.correspondence_id)"
    ),
    "ack_outbox": (
        f"{_SEES_ALL} OR (SELECT true FROM correspondence WHERE correspondence.id = ack_outbox.correspondence_id)"
    ),
}


def _tz(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    for column, size in (
        ("gp_sor", 20),
        ("gp_ean", 13),
        ("hospital_department_sor", 20),
        ("hospital_department_ean", 13),
    ):
        op.add_column("cases", sa.Column(column, sa.String(size)))
    op.add_column("message_settings", sa.Column("sor", sa.String(20)))
    op.add_column("message_settings", sa.Column("ean", sa.String(13)))

    op.create_table(
        "correspondence",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("thread_key", sa.String(100), nullable=False),
        sa.Column("header_id", sa.String(64), nullable=False),
        sa.Column("inbox_message_id", sa.Uuid()),
        sa.Column("replies_to_id", sa.Uuid()),
        sa.Column("previous_header_id", sa.String(64)),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("topic", sa.String(60)),
        sa.Column("kind", sa.String(20)),
        sa.Column("activity", sa.String(24), nullable=False),
        sa.Column("sender_name", sa.String(200)),
        sa.Column("sender_sor", sa.String(20)),
        sa.Column("sender_endpoint", sa.String(500), nullable=False),
        sa.Column("recipient_name", sa.String(200)),
        sa.Column("recipient_sor", sa.String(20)),
        sa.Column("recipient_ean", sa.String(13)),
        sa.Column("recipient_endpoint", sa.String(500), nullable=False),
        sa.Column("author_id", sa.Uuid()),
        _tz("written_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sends", sa.Integer(), server_default="0", nullable=False),
        _tz("next_send_at"),
        sa.Column("bundle_id", sa.String(64)),
        _tz("acknowledged_at"),
        _tz("failed_at"),
        sa.Column("failure_reason", sa.String(400)),
        sa.Column("document", sa.LargeBinary()),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_correspondence_direction_allowed"),
        sa.CheckConstraint(
            "status IN ('received', 'sending', 'sent', 'acknowledged', 'failed')",
            name="ck_correspondence_status_allowed",
        ),
        _fk("correspondence", "municipality_id", "organisations"),
        _fk("correspondence", "case_id", "cases"),
        _fk("correspondence", "inbox_message_id", "inbox_messages"),
        _fk("correspondence", "replies_to_id", "correspondence"),
        _fk("correspondence", "author_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_correspondence"),
        sa.UniqueConstraint("municipality_id", "direction", "header_id", name="uq_correspondence_municipality_id"),
    )
    op.create_index("ix_correspondence_case_id", "correspondence", ["case_id"])
    op.create_index("ix_correspondence_thread", "correspondence", ["case_id", "thread_key"])
    op.create_index(
        "ix_correspondence_resend",
        "correspondence",
        ["next_send_at"],
        postgresql_where=sa.text("status IN ('sending', 'sent')"),
    )

    op.create_table(
        "correspondence_segments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("correspondence_id", sa.Uuid(), nullable=False),
        sa.Column("thread_key", sa.String(100), nullable=False),
        sa.Column("segment_key", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _tz("written_at", nullable=False),
        sa.Column("author_name", sa.String(200)),
        sa.Column("author_role", sa.String(100)),
        sa.Column("author_phone", sa.String(40)),
        sa.Column("organisation_name", sa.String(200)),
        sa.Column("text", sa.Text()),
        sa.Column("title", sa.String(200)),
        sa.Column("content_type", sa.String(40)),
        sa.Column("size", sa.Integer()),
        sa.Column("data", sa.LargeBinary()),
        sa.Column("url", sa.String(500)),
        _fk("correspondence_segments", "municipality_id", "organisations"),
        _fk("correspondence_segments", "case_id", "cases"),
        _fk("correspondence_segments", "correspondence_id", "correspondence"),
        sa.PrimaryKeyConstraint("id", name="pk_correspondence_segments"),
        sa.UniqueConstraint("case_id", "thread_key", "segment_key", name="uq_correspondence_segments_case_id"),
    )
    op.create_index("ix_correspondence_segments_correspondence_id", "correspondence_segments", ["correspondence_id"])

    op.create_table(
        "correspondence_reads",
        sa.Column("correspondence_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _tz("read_at", nullable=False),
        _fk("correspondence_reads", "correspondence_id", "correspondence"),
        _fk("correspondence_reads", "user_id", "users"),
        sa.PrimaryKeyConstraint("correspondence_id", "user_id", name="pk_correspondence_reads"),
    )

    op.alter_column("ack_outbox", "message_id", nullable=True)
    op.add_column("ack_outbox", sa.Column("correspondence_id", sa.Uuid()))
    op.create_foreign_key(
        "fk_ack_outbox_correspondence_id_correspondence", "ack_outbox", "correspondence", ["correspondence_id"], ["id"]
    )
    op.create_index("ix_ack_outbox_correspondence_id", "ack_outbox", ["correspondence_id"])

    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY row_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    op.execute("DROP POLICY row_scope ON ack_outbox")
    op.execute("ALTER TABLE ack_outbox NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE ack_outbox DISABLE ROW LEVEL SECURITY")
    op.drop_index("ix_ack_outbox_correspondence_id", "ack_outbox")
    op.drop_constraint("fk_ack_outbox_correspondence_id_correspondence", "ack_outbox")
    op.drop_column("ack_outbox", "correspondence_id")
    op.execute("DELETE FROM ack_outbox WHERE message_id IS NULL")
    op.alter_column("ack_outbox", "message_id", nullable=False)
    for table in ("correspondence_reads", "correspondence_segments", "correspondence"):
        op.drop_table(table)
    op.drop_column("message_settings", "ean")
    op.drop_column("message_settings", "sor")
    for column in ("hospital_department_ean", "hospital_department_sor", "gp_ean", "gp_sor"):
        op.drop_column("cases", column)
