"""What only the operator does, from the command line: an organisation's first administrator.

No administrator can make it through the API: a municipality's administrator never manages a
palliative unit's or regional team's people (`backend.people.administered`), and nobody is above
a new municipality. `lindra admin create --organisation <id> --email ... --name ...` makes one;
from then on she manages her organisation's people herself. The operator types a first password
(checked like any chosen one), which she must replace with her own at her first sign-in: the
operator never keeps a usable password of hers. The audit log records it as the
operator's doing (role `operator`, request `cli`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, update

from backend.audit.models import AuditEntry
from backend.db import make_engine, make_sessionmaker
from backend.errors import Problem
from backend.people.administered import insert_user
from backend.people.auth import normalised_email
from backend.people.models import Organisation, OrganisationKind, Role, User
from backend.people.passwords import check_new_password, hash_password

# A district's people are its municipality's to manage.
ADMINISTERED_KINDS = frozenset(OrganisationKind) - {OrganisationKind.DISTRICT}


class OperatorError(Exception):
    """Why the command did nothing, in words for the operator's terminal."""


async def create_admin(
    database_url: str, organisation_id: uuid.UUID, email: str, full_name: str, password: str, now: datetime
) -> uuid.UUID:
    """Create an administrator of a municipality, palliative unit or regional team; her id."""
    name = " ".join(full_name.split())
    if not name:
        raise OperatorError("The name cannot be blank.")
    try:
        check_new_password(password, email, name, "password")
    except Problem as problem:
        raise OperatorError(problem.detail) from None
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            organisation = await session.get(Organisation, organisation_id)
            if organisation is None or organisation.kind not in ADMINISTERED_KINDS:
                raise OperatorError(f"No municipality, palliative unit or regional team has the id {organisation_id}.")
            try:
                user = await insert_user(
                    session,
                    email=normalised_email(email),
                    password_hash=await hash_password(password),
                    full_name=name,
                    role=Role.ADMIN,
                    organisation_id=organisation_id,
                    phone=None,
                    palliative_skilled=False,
                    now=now,
                )
            except Problem as problem:
                raise OperatorError(problem.detail) from None
            await session.execute(update(User).where(User.id == user.id).values(password_change_required=True))
            await session.execute(
                insert(AuditEntry).values(
                    user_id=user.id,
                    role="operator",
                    action="user.create",
                    subject_user_id=user.id,
                    request_id="cli",
                    detail={"role": Role.ADMIN.value, "organisation_id": str(organisation_id)},
                )
            )
            return user.id
    finally:
        await engine.dispose()
