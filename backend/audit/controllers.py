"""The access log, for administrators: who read or changed a case, and what a person did."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service
from backend.audit.schemas import AuditPage
from backend.people.actor import Actor
from backend.people.models import Role
from backend.wire import INT64

ADMINS = frozenset({Role.ADMIN})
BeforeId = Annotated[int | None, Parameter(ge=1, le=INT64, description="The next_before_id of the previous page")]
Limit = Annotated[int, Parameter(ge=1, le=500)]


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/cases/{case_id:uuid}", opt={"roles": ADMINS}, summary="Every read and change of one case")
    async def for_case(
        self, db: AsyncSession, actor: Actor, case_id: uuid.UUID, before_id: BeforeId = None, limit: Limit = 100
    ) -> AuditPage:
        return await service.entries(db, actor, case_id=case_id, before_id=before_id, limit=limit)

    @get("/users/{user_id:uuid}", opt={"roles": ADMINS}, summary="Everything one person read or changed")
    async def for_user(
        self, db: AsyncSession, actor: Actor, user_id: uuid.UUID, before_id: BeforeId = None, limit: Limit = 100
    ) -> AuditPage:
        return await service.entries(db, actor, user_id=user_id, before_id=before_id, limit=limit)
