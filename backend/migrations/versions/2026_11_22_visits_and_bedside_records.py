"""visits: shifts, roster, plans, visits, bedside records, flags, sync, events

Revision ID: 20261122_0003
Revises: 20261122_0002
Create Date: 2026-11-22 22:00:20.692740
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261122_0003"
down_revision: str | None = "20261122_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "shift_patterns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", sa.Time(), nullable=False),
        sa.Column("ends_at", sa.Time(), nullable=False),
        sa.CheckConstraint("kind IN ('day', 'evening', 'night')", name=op.f("ck_shift_patterns_kind_allowed")),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_shift_patterns_municipality_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_patterns")),
        sa.UniqueConstraint("municipality_id", "kind", name="uq_shift_patterns_municipality_kind"),
    )
    op.create_table(
        "roster_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("shift_date", sa.Date(), nullable=False),
        sa.Column("shift_kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("duty", sa.String(length=32), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "duty IN ('nurse', 'on_call_nurse', 'coordinator', 'key_person')",
            name=op.f("ck_roster_entries_duty_allowed"),
        ),
        sa.CheckConstraint(
            "shift_kind IN ('day', 'evening', 'night')", name=op.f("ck_roster_entries_shift_kind_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["organisations.id"], name=op.f("fk_roster_entries_district_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_roster_entries_municipality_id_organisations")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_roster_entries_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_entries")),
        sa.UniqueConstraint("shift_date", "shift_kind", "user_id", "duty", name="uq_roster_entries_shift_user_duty"),
    )
    op.create_index(
        "ix_roster_entries_shift", "roster_entries", ["municipality_id", "shift_date", "shift_kind"], unique=False
    )
    op.create_table(
        "case_flags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_flags_case_id_cases")),
        sa.ForeignKeyConstraint(["resolved_by"], ["users.id"], name=op.f("fk_case_flags_resolved_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_flags")),
    )
    op.create_index(
        "ix_case_flags_open", "case_flags", ["case_id"], unique=False, postgresql_where=sa.text("resolved_at IS NULL")
    )
    op.create_index(
        "uq_case_flags_open_kind",
        "case_flags",
        ["case_id", "kind"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "sync_operations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_op_id", sa.String(length=100), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("op_type", sa.String(length=32), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("reviewed", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_sync_operations_device_id_devices")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sync_operations_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "client_op_id", name=op.f("pk_sync_operations")),
    )
    op.create_table(
        "visit_plan_slots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("shift_kind", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.Time(), nullable=False),
        sa.Column("window_end", sa.Time(), nullable=False),
        sa.Column("tasks", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "shift_kind IN ('day', 'evening', 'night')", name=op.f("ck_visit_plan_slots_shift_kind_allowed")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_visit_plan_slots_case_id_cases")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_visit_plan_slots_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_plan_slots")),
    )
    op.create_index("ix_visit_plan_slots_case", "visit_plan_slots", ["case_id"], unique=False)
    op.create_table(
        "visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("slot_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shift_date", sa.Date(), nullable=False),
        sa.Column("shift_kind", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tasks", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("assigned_to", sa.Uuid(), nullable=True),
        sa.Column("handed_back_reason", sa.String(length=500), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_device_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_in_position", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_out_device_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out_position", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('planned', 'ad_hoc', 'acute')", name=op.f("ck_visits_kind_allowed")),
        sa.CheckConstraint("shift_kind IN ('day', 'evening', 'night')", name=op.f("ck_visits_shift_kind_allowed")),
        sa.CheckConstraint(
            "status IN ('planned', 'under_way', 'done', 'missed', 'cancelled')", name=op.f("ck_visits_status_allowed")
        ),
        sa.ForeignKeyConstraint(["assigned_to"], ["users.id"], name=op.f("fk_visits_assigned_to_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_visits_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["district_id"], ["organisations.id"], name=op.f("fk_visits_district_id_organisations")
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["visit_plan_slots.id"], name=op.f("fk_visits_slot_id_visit_plan_slots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("slot_id", "window_start", name="uq_visits_slot_window"),
    )
    op.create_index("ix_visits_assignee_window", "visits", ["assigned_to", "window_start"], unique=False)
    op.create_index("ix_visits_case_window", "visits", ["case_id", "window_start"], unique=False)
    op.create_index("ix_visits_district_window", "visits", ["district_id", "window_start"], unique=False)
    op.create_index(
        "ix_visits_open_window_end",
        "visits",
        ["window_end"],
        unique=False,
        postgresql_where=sa.text("status IN ('planned', 'under_way')"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_events_actor_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_events_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["district_id"], ["organisations.id"], name=op.f("fk_events_district_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_events_municipality_id_organisations")
        ),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_events_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_municipality_id", "events", ["municipality_id", "id"], unique=False)
    op.create_table(
        "medicine_given",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("drug", sa.String(length=120), nullable=False),
        sa.Column("dose", sa.Numeric(precision=10, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("effect", sa.String(length=500), nullable=True),
        sa.Column("effect_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_medicine_given_case_id_cases")),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_medicine_given_recorded_by_users")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_medicine_given_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medicine_given")),
    )
    op.create_index("ix_medicine_given_case_time", "medicine_given", ["case_id", "given_at"], unique=False)
    op.create_table(
        "symptom_assessments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("instrument", sa.String(length=32), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_symptom_assessments_case_id_cases")),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_symptom_assessments_recorded_by_users")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_symptom_assessments_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symptom_assessments")),
    )
    op.create_index("ix_symptom_assessments_case_time", "symptom_assessments", ["case_id", "recorded_at"], unique=False)
    op.create_table(
        "visit_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("interventions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("relatives_present", sa.String(length=300), nullable=True),
        sa.Column("relatives_informed", sa.String(length=300), nullable=True),
        sa.Column("corrects_id", sa.Uuid(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_visit_notes_author_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_visit_notes_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["corrects_id"], ["visit_notes.id"], name=op.f("fk_visit_notes_corrects_id_visit_notes")
        ),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_visit_notes_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_notes")),
    )
    op.create_index("ix_visit_notes_case_time", "visit_notes", ["case_id", "written_at"], unique=False)


def downgrade() -> None:

    op.drop_index("ix_visit_notes_case_time", table_name="visit_notes")
    op.drop_table("visit_notes")
    op.drop_index("ix_symptom_assessments_case_time", table_name="symptom_assessments")
    op.drop_table("symptom_assessments")
    op.drop_index("ix_medicine_given_case_time", table_name="medicine_given")
    op.drop_table("medicine_given")
    op.drop_index("ix_events_municipality_id", table_name="events")
    op.drop_table("events")
    op.drop_index(
        "ix_visits_open_window_end", table_name="visits", postgresql_where=sa.text("status IN ('planned', 'under_way')")
    )
    op.drop_index("ix_visits_district_window", table_name="visits")
    op.drop_index("ix_visits_case_window", table_name="visits")
    op.drop_index("ix_visits_assignee_window", table_name="visits")
    op.drop_table("visits")
    op.drop_index("ix_visit_plan_slots_case", table_name="visit_plan_slots")
    op.drop_table("visit_plan_slots")
    op.drop_table("sync_operations")
    op.drop_index("uq_case_flags_open_kind", table_name="case_flags", postgresql_where=sa.text("resolved_at IS NULL"))
    op.drop_index("ix_case_flags_open", table_name="case_flags", postgresql_where=sa.text("resolved_at IS NULL"))
    op.drop_table("case_flags")
    op.drop_index("ix_roster_entries_shift", table_name="roster_entries")
    op.drop_table("roster_entries")
    op.drop_table("shift_patterns")
