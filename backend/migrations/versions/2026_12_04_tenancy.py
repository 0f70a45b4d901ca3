"""tenancy: citizens and providers' users kept within their municipality

A citizen now belongs to one municipality (`citizens.municipality_id`), unique by
(municipality, CPR) instead of by CPR alone. Existing rows take the municipality of their cases;
a citizen with cases in several municipalities becomes one citizen per municipality, each
municipality's cases pointing at its own copy. A citizen without any case belongs to no
municipality and can be read by no one: it is deleted rather than kept without a purpose.

The downgrade merges each CPR's citizens back into one (the copy whose case changed last keeps
its name, address and phone) and refuses, with the reason, when two municipalities each hold an
open case for the same CPR: the old schema cannot say that.

Revision ID: 20261204_0008
Revises: 20261123_0007
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_0008"
down_revision: str | None = "20261123_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each citizen's first municipality: the one of her earliest referral.
_FIRST_MUNICIPALITY = """
    UPDATE citizens SET municipality_id = first.municipality_id
    FROM (
        SELECT DISTINCT ON (citizen_id) citizen_id, municipality_id
        FROM cases ORDER BY citizen_id, referral_received_on, id
    ) AS first
    WHERE first.citizen_id = citizens.id
"""

# A copy of the citizen for every other municipality she has cases in.
_COPIES_FOR_OTHER_MUNICIPALITIES = """
    INSERT INTO citizens (id, municipality_id, cpr, name, address, phone, created_at)
    SELECT gen_random_uuid(), pairs.municipality_id, c.cpr, c.name, c.address, c.phone, c.created_at
    FROM (SELECT DISTINCT citizen_id, municipality_id FROM cases) AS pairs
    JOIN citizens c ON c.id = pairs.citizen_id
    WHERE pairs.municipality_id <> c.municipality_id
"""

# Those municipalities' cases move to their own copy.
_CASES_TO_THEIR_COPY = """
    UPDATE cases SET citizen_id = own.id
    FROM citizens first, citizens own
    WHERE cases.citizen_id = first.id
      AND first.municipality_id <> cases.municipality_id
      AND own.cpr = first.cpr AND own.municipality_id = cases.municipality_id
"""

# Downgrade: two municipalities with an open case for one CPR cannot become one citizen.
_OPEN_IN_TWO = """
    SELECT count(*) FROM (
        SELECT c.cpr FROM cases JOIN citizens c ON c.id = cases.citizen_id
        WHERE cases.status <> 'closed'
        GROUP BY c.cpr HAVING count(*) > 1
    ) AS clashes
"""

# Downgrade: for each CPR, the citizen whose case changed last is kept; the others' cases move to it.
_KEEPERS = """
    CREATE TEMPORARY TABLE citizen_keepers ON COMMIT DROP AS
    SELECT c.id AS citizen_id, (
        SELECT other.id FROM citizens other
        WHERE other.cpr = c.cpr
        ORDER BY (SELECT max(updated_at) FROM cases WHERE cases.citizen_id = other.id) DESC NULLS LAST, other.id
        LIMIT 1
    ) AS keeper_id
    FROM citizens c
"""


def upgrade() -> None:
    op.add_column("citizens", sa.Column("municipality_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_citizens_municipality_id_organisations"), "citizens", "organisations", ["municipality_id"], ["id"]
    )
    op.drop_constraint(op.f("uq_citizens_cpr"), "citizens", type_="unique")
    op.execute(_FIRST_MUNICIPALITY)
    op.execute(_COPIES_FOR_OTHER_MUNICIPALITIES)
    op.execute(_CASES_TO_THEIR_COPY)
    op.execute("DELETE FROM citizens WHERE municipality_id IS NULL")
    op.alter_column("citizens", "municipality_id", nullable=False)
    op.create_unique_constraint("uq_citizens_municipality_id_cpr", "citizens", ["municipality_id", "cpr"])


def downgrade() -> None:
    clashes = op.get_bind().scalar(sa.text(_OPEN_IN_TWO))
    if clashes:
        raise RuntimeError(
            f"{clashes} CPR numbers have open cases in more than one municipality; "
            "the schema before 20261204_0008 holds one citizen per CPR. Close one of each pair first."
        )
    op.drop_constraint("uq_citizens_municipality_id_cpr", "citizens", type_="unique")
    op.execute(_KEEPERS)
    op.execute(
        "UPDATE cases SET citizen_id = k.keeper_id FROM citizen_keepers k "
        "WHERE cases.citizen_id = k.citizen_id AND k.citizen_id <> k.keeper_id"
    )
    op.execute(
        "DELETE FROM citizens USING citizen_keepers k WHERE citizens.id = k.citizen_id AND k.citizen_id <> k.keeper_id"
    )
    op.create_unique_constraint(op.f("uq_citizens_cpr"), "citizens", ["cpr"])
    op.drop_constraint(op.f("fk_citizens_municipality_id_organisations"), "citizens", type_="foreignkey")
    op.drop_column("citizens", "municipality_id")
