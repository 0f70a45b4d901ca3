"""api_time(): a timestamp written the way the API writes it, for answers PostgreSQL builds whole

Revision ID: 20261123_0006
Revises: 20261123_0005
Create Date: 2026-11-23 04:40:00

The phone's "my shift" is built as JSON by PostgreSQL and sent as it comes. Its times must read
exactly like those the application encodes (UTC, `Z`, microseconds only when there are any), or
one answer would mix two spellings of the same instant.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261123_0006"
down_revision: str | None = "20261123_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION api_time(t timestamptz) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE  -- as stable as to_char, so PostgreSQL inlines it
        AS $$ SELECT to_char(t AT TIME ZONE 'UTC',
                             CASE WHEN date_trunc('second', t) = t THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
                                  ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END) $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION api_time(timestamptz)")
