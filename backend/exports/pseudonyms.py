"""Each citizen's stable pseudonym in the national data set, keyed by her municipality's secret.

The pseudonym is HMAC-SHA256 over the CPR number with the municipality's secret: the same
citizen gets the same pseudonym in every export (two cases of hers are one person to the
national database), nobody without the secret can compute it from a CPR number, and two
municipalities' pseudonyms of one person differ. The secret is made at the first export (or set
by the operator, `lindra export-secret set`), kept in `pseudonym_secrets`, which only the system
scope sees, and never logged, sent or shown. Computed here in Python: no statement computes
with the secret (its parameters could show in a slow-query log), it is only stored and read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import make_engine, make_sessionmaker
from backend.exports.models import PseudonymSecret, SecretSource
from backend.people.models import Organisation, OrganisationKind
from backend.row_scope import SYSTEM

SECRET_BYTES = 32
MIN_OPERATOR_SECRET_BYTES = 16


def pseudonym(secret: bytes, kind: str, value: str) -> str:
    """128 bits of HMAC-SHA256(secret, "kind:value") as hex: a citizen (`citizen`, her CPR) or an
    episode of care (`case`, its id)."""
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


async def secret_of(session: AsyncSession, municipality_id: uuid.UUID) -> bytes:
    """The municipality's secret, made and stored at its first use (a race keeps the first)."""
    await session.execute(
        insert(PseudonymSecret)
        .values(
            municipality_id=municipality_id, secret=secrets.token_bytes(SECRET_BYTES), source=SecretSource.GENERATED
        )
        .on_conflict_do_nothing(index_elements=["municipality_id"])
    )
    return (
        await session.scalars(select(PseudonymSecret.secret).where(PseudonymSecret.municipality_id == municipality_id))
    ).one()


async def set_secret(session: AsyncSession, municipality_id: uuid.UUID, secret: bytes) -> None:
    """The operator's own secret for the municipality (the system scope's session). Replacing one
    gives every citizen a new pseudonym: the national database can no longer link to earlier exports."""
    if len(secret) < MIN_OPERATOR_SECRET_BYTES:
        raise ValueError(f"the secret must be at least {MIN_OPERATOR_SECRET_BYTES} bytes")
    statement = insert(PseudonymSecret).values(
        municipality_id=municipality_id, secret=secret, source=SecretSource.OPERATOR
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["municipality_id"], set_={"secret": secret, "source": SecretSource.OPERATOR}
        )
    )


async def set_secret_as_operator(database_url: str, municipality_id: uuid.UUID, secret: bytes) -> None:
    """`lindra export-secret set`: the operator's secret for a municipality, in the system scope."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine, SYSTEM)() as session, session.begin():
            organisation = await session.get(Organisation, municipality_id)
            if organisation is None or organisation.kind != OrganisationKind.MUNICIPALITY:
                raise ValueError("no municipality with this id")
            await set_secret(session, municipality_id, secret)
    finally:
        await engine.dispose()
