"""foundation: people, cases, audit

Revision ID: 20261122_0001
Revises:
Create Date: 2026-11-22 21:12:42.927947
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261122_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citizens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cpr", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizens")),
        sa.UniqueConstraint("cpr", name=op.f("uq_citizens_cpr")),
    )
    op.create_table(
        "login_throttles",
        sa.Column("email_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("email_key", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('municipality', 'district', 'palliative_team', 'palliative_unit')",
            name=op.f("ck_organisations_kind_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["organisations.id"], name=op.f("fk_organisations_parent_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_index(op.f("ix_organisations_parent_id"), "organisations", ["parent_id"], unique=False)
    op.create_table(
        "organisation_serves",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_serves_municipality_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_serves_provider_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("provider_id", "municipality_id", name=op.f("pk_organisation_serves")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("palliative_skilled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("language", sa.String(length=2), server_default="da", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('nurse', 'coordinator', 'key_person', 'palliative_unit', 'admin')",
            name=op.f("ck_users_role_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_users_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"], unique=False)
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("diagnosis", sa.String(length=500), nullable=False),
        sa.Column("icd10", sa.String(length=8), nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("home_death_wish", sa.String(length=16), nullable=True),
        sa.Column("terminal_declared_on", sa.Date(), nullable=True),
        sa.Column("terminal_grant", sa.String(length=16), server_default="not_applied", nullable=False),
        sa.Column("carers_leave", sa.String(length=16), server_default="not_applied", nullable=False),
        sa.Column("contact_person_id", sa.Uuid(), nullable=True),
        sa.Column("key_person_id", sa.Uuid(), nullable=True),
        sa.Column("gp_name", sa.String(length=200), nullable=True),
        sa.Column("gp_phone", sa.String(length=32), nullable=True),
        sa.Column("hospital_department", sa.String(length=200), nullable=True),
        sa.Column("palliative_team_id", sa.Uuid(), nullable=True),
        sa.Column("referral_received_on", sa.Date(), nullable=False),
        sa.Column("referral_source", sa.String(length=32), nullable=False),
        sa.Column("first_contact_due", sa.Date(), nullable=False),
        sa.Column("assessment_due", sa.Date(), nullable=False),
        sa.Column("first_contact_on", sa.Date(), nullable=True),
        sa.Column("assessment_on", sa.Date(), nullable=True),
        sa.Column("unit_referred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("died_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("death_place", sa.String(length=32), nullable=True),
        sa.Column("death_present", sa.String(length=500), nullable=True),
        sa.Column("gp_informed", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "carers_leave IN ('not_applied', 'applied', 'granted', 'refused')",
            name=op.f("ck_cases_carers_leave_allowed"),
        ),
        sa.CheckConstraint(
            "death_place IN ('home', 'nursing_home', 'hospice', 'hospital', 'palliative_unit')",
            name=op.f("ck_cases_death_place_allowed"),
        ),
        sa.CheckConstraint("phase IN ('early', 'late', 'terminal')", name=op.f("ck_cases_phase_allowed")),
        sa.CheckConstraint(
            "referral_source IN ('hospital_ref01', 'gp_ref01', 'municipal', 'citizen', 'relative')",
            name=op.f("ck_cases_referral_source_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('referred', 'active', 'admitted', 'deceased', 'closed')",
            name=op.f("ck_cases_status_allowed"),
        ),
        sa.CheckConstraint(
            "terminal_grant IN ('not_applied', 'applied', 'granted', 'refused')",
            name=op.f("ck_cases_terminal_grant_allowed"),
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name=op.f("fk_cases_citizen_id_citizens")),
        sa.ForeignKeyConstraint(["contact_person_id"], ["users.id"], name=op.f("fk_cases_contact_person_id_users")),
        sa.ForeignKeyConstraint(["district_id"], ["organisations.id"], name=op.f("fk_cases_district_id_organisations")),
        sa.ForeignKeyConstraint(["key_person_id"], ["users.id"], name=op.f("fk_cases_key_person_id_users")),
        sa.ForeignKeyConstraint(
            ["municipality_id"], ["organisations.id"], name=op.f("fk_cases_municipality_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["palliative_team_id"],
            ["organisations.id"],
            name=op.f("fk_cases_palliative_team_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index("ix_cases_district_list", "cases", ["district_id", "referral_received_on", "id"], unique=False)
    op.create_index(
        "ix_cases_municipality_list", "cases", ["municipality_id", "referral_received_on", "id"], unique=False
    )
    op.create_index(
        "uq_cases_open_citizen",
        "cases",
        ["citizen_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'closed'"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("app_version", sa.String(length=32), nullable=False),
        sa.Column("push_token", sa.String(length=4096), nullable=True),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=False),
        sa.Column("previous_refresh_hash", sa.String(length=64), nullable=True),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
        sa.CheckConstraint("platform IN ('ios', 'android', 'web')", name=op.f("ck_devices_platform_allowed")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_devices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_devices_refresh_token_hash")),
    )
    op.create_index(op.f("ix_devices_previous_refresh_hash"), "devices", ["previous_refresh_hash"], unique=False)
    op.create_index(op.f("ix_devices_user_id"), "devices", ["user_id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "user_districts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"], ["organisations.id"], name=op.f("fk_user_districts_district_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_districts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "district_id", name=op.f("pk_user_districts")),
    )
    op.create_table(
        "action_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("needs", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("place", sa.String(length=300), nullable=False),
        sa.Column("responsibilities", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("other_departments", sa.Text(), nullable=True),
        sa.Column("evaluate_on", sa.Date(), nullable=False),
        sa.Column("evaluated_by", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_action_plans_case_id_cases")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_action_plans_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plans")),
    )
    op.create_index(op.f("ix_action_plans_case_id"), "action_plans", ["case_id"], unique=False)
    op.create_table(
        "anticipatory_medicines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("indication", sa.String(length=32), nullable=False),
        sa.Column("drug", sa.String(length=120), nullable=False),
        sa.Column("strength", sa.String(length=60), nullable=False),
        sa.Column("quantity", sa.String(length=60), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "indication IN ('pain', 'breathlessness', 'nausea', 'restlessness', 'death_rattle')",
            name=op.f("ck_anticipatory_medicines_indication_allowed"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_anticipatory_medicines_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_anticipatory_medicines_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anticipatory_medicines")),
    )
    op.create_index(op.f("ix_anticipatory_medicines_case_id"), "anticipatory_medicines", ["case_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("subject_user_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_audit_log_case_id_cases")),
        sa.ForeignKeyConstraint(["subject_user_id"], ["users.id"], name=op.f("fk_audit_log_subject_user_id_users")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_log_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_case_at", "audit_log", ["case_id", "at"], unique=False)
    op.create_index("ix_audit_log_user_at", "audit_log", ["user_id", "at"], unique=False)
    # The audit log is append-only for everyone, the service's own database user included.
    op.execute(
        """
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log"
        " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )
    op.create_table(
        "case_wishes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("dies_at_home", sa.String(length=16), nullable=False),
        sa.Column("preferred_place_of_care", sa.String(length=32), nullable=True),
        sa.Column("preferred_place_of_death", sa.String(length=32), nullable=True),
        sa.Column("discussed_on", sa.Date(), nullable=False),
        sa.Column("discussed_with", sa.String(length=300), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "dies_at_home IN ('yes', 'no', 'undecided')", name=op.f("ck_case_wishes_dies_at_home_allowed")
        ),
        sa.CheckConstraint(
            "preferred_place_of_care IN ('home', 'nursing_home', 'hospice', 'hospital', 'palliative_unit')",
            name=op.f("ck_case_wishes_preferred_place_of_care_allowed"),
        ),
        sa.CheckConstraint(
            "preferred_place_of_death IN ('home', 'nursing_home', 'hospice', 'hospital', 'palliative_unit')",
            name=op.f("ck_case_wishes_preferred_place_of_death_allowed"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_wishes_case_id_cases")),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_case_wishes_recorded_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_wishes")),
    )
    op.create_index(op.f("ix_case_wishes_case_id"), "case_wishes", ["case_id"], unique=False)
    op.create_table(
        "relatives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("relation", sa.String(length=60), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("primary_contact", sa.Boolean(), nullable=False),
        sa.Column("lives_with_citizen", sa.Boolean(), nullable=False),
        sa.Column("consent_to_information", sa.Boolean(), nullable=False),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("talks_with_child", sa.String(length=200), nullable=True),
        sa.Column("support_offered", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_relatives_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relatives")),
    )
    op.create_index(op.f("ix_relatives_case_id"), "relatives", ["case_id"], unique=False)
    op.create_table(
        "status_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_status_notes_author_id_users")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_status_notes_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_notes")),
    )
    op.create_index(op.f("ix_status_notes_case_id"), "status_notes", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_status_notes_case_id"), table_name="status_notes")
    op.drop_table("status_notes")
    op.drop_index(op.f("ix_relatives_case_id"), table_name="relatives")
    op.drop_table("relatives")
    op.drop_index(op.f("ix_case_wishes_case_id"), table_name="case_wishes")
    op.drop_table("case_wishes")
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER audit_log_no_update ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index("ix_audit_log_user_at", table_name="audit_log")
    op.drop_index("ix_audit_log_case_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_anticipatory_medicines_case_id"), table_name="anticipatory_medicines")
    op.drop_table("anticipatory_medicines")
    op.drop_index(op.f("ix_action_plans_case_id"), table_name="action_plans")
    op.drop_table("action_plans")
    op.drop_table("user_districts")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_devices_user_id"), table_name="devices")
    op.drop_index(op.f("ix_devices_previous_refresh_hash"), table_name="devices")
    op.drop_table("devices")
    op.drop_index("uq_cases_open_citizen", table_name="cases", postgresql_where=sa.text("status <> 'closed'"))
    op.drop_index("ix_cases_municipality_list", table_name="cases")
    op.drop_index("ix_cases_district_list", table_name="cases")
    op.drop_table("cases")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_index(op.f("ix_users_organisation_id"), table_name="users")
    op.drop_table("users")
    op.drop_table("organisation_serves")
    op.drop_index(op.f("ix_organisations_parent_id"), table_name="organisations")
    op.drop_table("organisations")
    op.drop_table("login_throttles")
    op.drop_table("citizens")
