"""actors_changed: announce every change to what a login's actor is made of

Revision ID: 20261123_0007
Revises: 20261123_0006
Create Date: 2026-11-23 17:05:00

Each instance keeps the actors it loaded lately (`backend.people.actor.KnownActors`), so a request
need not ask the database who is calling. It may only do so while it hears of every change: a
device signed out, a user deleted, a role, an organisation or a district changed, an organisation's
municipalities. A trigger on each of those tables announces the change on `lindra_actors`, whoever
writes it (the API, the command line, a person with psql), and every instance forgets what it knew.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261123_0007"
down_revision: str | None = "20261123_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table and the writes that can change a known actor (a new device or user is no one known yet).
WATCHED = {
    "devices": "UPDATE OF revoked_at, user_id OR DELETE OR TRUNCATE",
    "users": "UPDATE OF role, organisation_id, deleted_at OR DELETE OR TRUNCATE",
    "organisations": "UPDATE OF kind, parent_id OR DELETE OR TRUNCATE",
    "user_districts": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "organisation_serves": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION actors_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('lindra_actors', '');  -- sent once per transaction, at its commit
            RETURN NULL;
        END $$
        """
    )
    for table, events in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_actors_changed AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION actors_changed()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_actors_changed ON {table}")
    op.execute("DROP FUNCTION actors_changed()")
