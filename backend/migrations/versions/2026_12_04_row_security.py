"""row-level security on the tables that hold health data

Revision ID: 20261204_0011
Revises: 20261204_0010
Create Date: 2026-12-04 06:00:00

The application acts as `lindra_app` (neither superuser nor owner, so the policies bind it; FORCE
binds the owner as well). A connection sees a health row only within the scope its settings name
(backend/row_scope.py): `lindra.role` = 'system' sees every row; a clinical role sees the rows of
the municipalities in `lindra.municipalities`; any other role, or no setting, sees none.

Left without policies, on purpose: the people tables and rosters (no health data; read before
anyone is known, at login); the audit log (identifiers only, written by every read whatever its
scope, and read by the administrator, who sees no health rows, within her municipality by the
service layer); idempotency keys and sync operations (a user's own stored answers, every read
names that user in the primary key).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261204_0011"
down_revision: str | None = "20261204_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "lindra_app"

# Roles are cluster-wide: created once (by whichever database migrates first, or by the DBA
# beforehand), kept by a downgrade, which other databases may still use. An owner that is not a
# superuser and creates it may switch to it (SET), without inheriting it.
_CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        BEGIN
            CREATE ROLE {ROLE} NOLOGIN;
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT {ROLE} TO %I WITH INHERIT FALSE, SET TRUE', current_user);
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration created it at the same moment
        END;
    END IF;
END $$
"""

# What the application does with the tables (and those later migrations create); it never moves
# the schema's version. (The audit log's own trigger refuses its UPDATE, DELETE and TRUNCATE.)
_GRANTS = [
    f"GRANT USAGE ON SCHEMA public TO {ROLE}",
    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}",
    f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}",
    f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}",
]

_REVOKES = [
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {ROLE}",
    f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}",
    f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}",
    f"REVOKE USAGE ON SCHEMA public FROM {ROLE}",
]

# The policies' questions, each asked once per statement (wrapped in a sub-select where used).
_FUNCTIONS = [
    """CREATE FUNCTION lindra_sees_all() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT coalesce(current_setting('lindra.role', true), '') = 'system'
    $$""",
    # The municipalities the connection names, whatever its role: for rows that name no person.
    """CREATE FUNCTION lindra_named_municipalities() RETURNS uuid[] LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT string_to_array(current_setting('lindra.municipalities', true), ',')::uuid[]
    $$""",
    # Whose health rows: a clinical role's municipalities, or those a use case counts (`aggregates`).
    """CREATE FUNCTION lindra_municipalities() RETURNS uuid[] LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN current_setting('lindra.role', true)
                         IN ('nurse', 'coordinator', 'key_person', 'palliative_unit', 'aggregates')
                    THEN lindra_named_municipalities()
                    ELSE '{}'::uuid[] END
    $$""",
    # What an administrator, who sees no case, needs to scope her audit reads, and nothing more:
    # a case's municipality, and a municipality's case ids.
    """CREATE FUNCTION case_municipality(case_id uuid) RETURNS uuid LANGUAGE sql STABLE SET lindra.role = 'system' AS $$
        SELECT municipality_id FROM cases WHERE id = case_id
    $$""",
    """CREATE FUNCTION municipality_case_ids(municipality uuid) RETURNS SETOF uuid LANGUAGE sql STABLE
    SET lindra.role = 'system' AS $$
        SELECT id FROM cases WHERE municipality_id = municipality
    $$""",
]

_SEES_ALL = "(SELECT lindra_sees_all())"
BY_MUNICIPALITY = f"{_SEES_ALL} OR municipality_id = ANY (CAST((SELECT lindra_municipalities()) AS uuid[]))"
# An event about no case, visit or alert (a policy or roster changed) holds no health data: any
# role of the municipality sees and writes it, the administrator included.
_ABOUT_NOBODY = (
    "case_id IS NULL AND visit_id IS NULL AND alert_id IS NULL"
    " AND municipality_id = ANY (CAST((SELECT lindra_named_municipalities()) AS uuid[]))"
)

# Each table and the rule its rows are seen by: their municipality, or their case's or alert's
# (whose own policy applies inside the sub-query). A scalar sub-query, not EXISTS: PostgreSQL
# would turn EXISTS into a hash of every visible case's id, built for each child table of each
# case page (measured: twice the page's PostgreSQL time at 500 cases); this probes the one row.
POLICIES: dict[str, str] = {
    "citizens": BY_MUNICIPALITY,
    "cases": BY_MUNICIPALITY,
    "alerts": BY_MUNICIPALITY,
    "events": f"{BY_MUNICIPALITY} OR ({_ABOUT_NOBODY})",
    **{
        table: f"{_SEES_ALL} OR (SELECT true FROM cases WHERE cases.id = {table}.case_id)"
        for table in (
            "case_wishes",
            "anticipatory_medicines",
            "relatives",
            "action_plans",
            "status_notes",
            "visit_plan_slots",
            "visits",
            "symptom_assessments",
            "medicine_given",
            "visit_notes",
            "case_flags",
        )
    },
    **{
        table: f"{_SEES_ALL} OR (SELECT true FROM alerts WHERE alerts.id = {table}.alert_id)"
        for table in ("alert_raises", "alert_tiers", "alert_targets", "notifications")
    },
}


def upgrade() -> None:
    for statement in [_CREATE_ROLE, *_GRANTS, *_FUNCTIONS]:
        op.execute(statement)
    for table, rule in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY row_scope ON {table} USING ({rule}) WITH CHECK ({rule})")


def downgrade() -> None:
    for table in POLICIES:
        op.execute(f"DROP POLICY row_scope ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION municipality_case_ids(uuid)")
    op.execute("DROP FUNCTION case_municipality(uuid)")
    op.execute("DROP FUNCTION lindra_municipalities()")
    op.execute("DROP FUNCTION lindra_named_municipalities()")
    op.execute("DROP FUNCTION lindra_sees_all()")
    for statement in _REVOKES:
        op.execute(statement)
