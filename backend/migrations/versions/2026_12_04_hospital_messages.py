"""messages: the MedCom inbox, acknowledgements and their outbox, hospital stays

Revision ID: 20261204_0012
Revises: 20261204_0011
Create Date: 2026-12-04 07:00:00

Row security (see 20261204_0011): a hospital stay and its notices are a citizen's health rows,
seen by municipality like a case. A message's state and answer (`inbox_messages`) name no person
once processed: any role of its municipality sees them (the administrator follows the inbox). Its
raw bytes (`inbox_bodies`) hold a CPR number and a name: seen by the system scope (the worker) and
by the delivering client's scope (`inbox`) only. The outbox, the system clients and the settings
hold no personal data and have no policy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261204_0012"
down_revision: str | None = "20261204_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEES_ALL = "(SELECT lindra_sees_all())"
_NAMED = "municipality_id = ANY (CAST((SELECT lindra_named_municipalities()) AS uuid[]))"
POLICIES = {
    "hospital_stays": f"{_SEES_ALL} OR municipality_id = ANY (CAST((SELECT lindra_municipalities()) AS uuid[]))",
    "stay_notices": f"{_SEES_ALL} OR (SELECT true FROM hospital_stays WHERE hospital_stays.id = stay_notices.stay_id)",
    "inbox_messages": f"{_SEES_ALL} OR {_NAMED}",
    "inbox_bodies": f"{_SEES_ALL} OR (current_setting('lindra.role', true) = 'inbox' AND {_NAMED})",
}


def _tz(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _created(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "system_clients",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("ack_url", sa.String(500)),
        _created("created_at"),
        _tz("revoked_at"),
        sa.CheckConstraint("role IN ('inbox')", name="ck_system_clients_role_allowed"),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_system_clients_municipality_id_organisations"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_system_clients"),
        sa.UniqueConstraint("secret_hash", name="uq_system_clients_secret_hash"),
    )
    op.create_index("ix_system_clients_municipality_id", "system_clients", ["municipality_id"])

    op.create_table(
        "message_settings",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("care_record_acknowledges", sa.Boolean(), server_default="false", nullable=False),
        _created("updated_at"),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_message_settings_municipality_id_organisations"
        ),
        sa.PrimaryKeyConstraint("municipality_id", name="pk_message_settings"),
    )

    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        _created("received_at"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _tz("processed_at"),
        sa.Column("header_id", sa.String(64)),
        sa.Column("bundle_id", sa.String(64)),
        sa.Column("event_code", sa.String(16)),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_element", sa.String(200)),
        sa.Column("reason", sa.String(400)),
        sa.Column("duplicate_of", sa.Uuid()),
        sa.Column("duplicates", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ack_code", sa.String(16)),
        sa.Column("ack_media_type", sa.String(40)),
        sa.Column("ack_body", sa.LargeBinary()),
        sa.CheckConstraint(
            "state IN ('received', 'applied', 'refused', 'not_ours', 'duplicate', 'failed')",
            name="ck_inbox_messages_state_allowed",
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_inbox_messages_municipality_id_organisations"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["system_clients.id"], name="fk_inbox_messages_client_id_system_clients"
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["inbox_messages.id"], name="fk_inbox_messages_duplicate_of_inbox_messages"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbox_messages"),
    )
    op.create_index("ix_inbox_messages_client_id", "inbox_messages", ["client_id"])
    op.create_index(
        "uq_inbox_messages_header",
        "inbox_messages",
        ["municipality_id", "header_id"],
        unique=True,
        postgresql_where=sa.text("header_id IS NOT NULL AND duplicate_of IS NULL AND state <> 'failed'"),
    )
    op.create_index("ix_inbox_messages_bundle", "inbox_messages", ["municipality_id", "bundle_id"])
    op.create_index("ix_inbox_messages_list", "inbox_messages", ["municipality_id", "received_at"])
    op.create_index(
        "ix_inbox_messages_waiting", "inbox_messages", ["received_at"], postgresql_where=sa.text("state = 'received'")
    )

    op.create_table(
        "inbox_bodies",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["inbox_messages.id"], name="fk_inbox_bodies_message_id_inbox_messages", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_inbox_bodies_municipality_id_organisations"
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_inbox_bodies"),
    )

    op.create_table(
        "hospital_stays",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid()),
        sa.Column("episode_key", sa.String(100), nullable=False),
        sa.Column("other_keys", postgresql.ARRAY(sa.String(100)), server_default="{}", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _tz("since"),
        sa.Column("encounter_class", sa.String(8), nullable=False),
        sa.Column("department", sa.String(200)),
        sa.Column("department_sor", sa.String(64)),
        _tz("admitted_at"),
        _tz("leave_started_at"),
        _tz("leave_ended_at"),
        _tz("discharged_at"),
        _tz("died_at"),
        sa.Column("report_of_admission_requested", sa.Boolean(), server_default="false", nullable=False),
        _created("updated_at"),
        sa.CheckConstraint(
            "status IN ('admitted', 'on_leave', 'home', 'died', 'void')", name="ck_hospital_stays_status_allowed"
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name="fk_hospital_stays_municipality_id_organisations"
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name="fk_hospital_stays_citizen_id_citizens"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_hospital_stays_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_hospital_stays"),
        sa.UniqueConstraint("municipality_id", "episode_key", name="uq_hospital_stays_municipality_id_episode_key"),
    )
    op.create_index("ix_hospital_stays_citizen_id", "hospital_stays", ["citizen_id"])
    op.create_index("ix_hospital_stays_case_id", "hospital_stays", ["case_id"])
    op.create_index("ix_hospital_stays_other_keys", "hospital_stays", ["other_keys"], postgresql_using="gin")

    op.create_table(
        "stay_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stay_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("variant", sa.String(3), nullable=False),
        sa.Column("event_code", sa.String(16), nullable=False),
        sa.Column("effect", sa.String(16), nullable=False),
        _tz("recorded_at", nullable=False),
        _tz("received_at", nullable=False),
        sa.Column("encounter_class", sa.String(8), nullable=False),
        sa.Column("deceased", sa.Boolean()),
        _tz("period_start", nullable=False),
        _tz("period_end"),
        _tz("leave_start"),
        _tz("leave_end"),
        sa.Column("department", sa.String(200)),
        sa.Column("department_sor", sa.String(64)),
        sa.ForeignKeyConstraint(["stay_id"], ["hospital_stays.id"], name="fk_stay_notices_stay_id_hospital_stays"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["inbox_messages.id"], name="fk_stay_notices_message_id_inbox_messages"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stay_notices"),
        sa.UniqueConstraint("message_id", name="uq_stay_notices_message_id"),
    )
    op.create_index("ix_stay_notices_stay_id", "stay_notices", ["stay_id"])

    op.create_table(
        "ack_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _tz("next_attempt_at", nullable=False),
        sa.Column("last_error", sa.Text()),
        _tz("sent_at"),
        _created("created_at"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'gave_up')", name="ck_ack_outbox_status_allowed"),
        sa.ForeignKeyConstraint(["message_id"], ["inbox_messages.id"], name="fk_ack_outbox_message_id_inbox_messages"),
        sa.PrimaryKeyConstraint("id", name="pk_ack_outbox"),
    )
    op.create_index("ix_ack_outbox_message_id", "ack_outbox", ["message_id"])
    op.create_index(
        "ix_ack_outbox_due", "ack_outbox", ["next_attempt_at"], postgresql_where=sa.text("status = 'pending'")
    )

    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY row_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    for table in ("ack_outbox", "stay_notices", "hospital_stays", "inbox_bodies", "inbox_messages"):
        op.drop_table(table)
    op.drop_table("message_settings")
    op.drop_table("system_clients")
