"""HTTP for MedCom messages: the broker's inbox, and the administrator's view of it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import Clock
from backend.deps import Read
from backend.errors import Problem
from backend.messages import admin, service
from backend.messages.clients import CLIENT_ROLE, Client, provide_client
from backend.messages.fhir_parse import MEDIA_TYPES
from backend.messages.models import ClientRole, MessageState
from backend.messages.schemas import InboxPage, MessagingSettings, Received
from backend.people.actor import Actor
from backend.people.models import Role
from backend.row_scope import acquire

ADMINS = frozenset({Role.ADMIN})
BROKER = {CLIENT_ROLE: ClientRole.INBOX.value}
Limit = Annotated[int, Parameter(ge=1, le=500)]


class InboxController(Controller):
    path = "/messages"
    tags = ["messages"]
    dependencies = {"client": Provide(provide_client, sync_to_thread=False)}

    @post(
        "/inbox",
        opt=BROKER,
        status_code=202,
        summary="Deliver a MedCom message (FHIR Bundle, application/fhir+json or +xml); a system client only",
        description=(
            "The bytes are kept before anything else and processed by the worker within moments. The answer is "
            "only a receipt: the MedCom acknowledgement (ok, transient-error or fatal-error) always goes out "
            "through the outbox to the broker's acknowledgement URL, so that one message gets one answer by one "
            "path, also when the care-record system is the one that acknowledges."
        ),
    )
    async def receive(self, request: Request[Any, Any, Any], client: Client, clock: Clock) -> Response[Received]:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type not in MEDIA_TYPES:
            raise Problem(
                415,
                "Unsupported media type",
                "Send application/fhir+json or application/fhir+xml.",
                field="Content-Type",
            )
        body = await request.body()
        async with acquire(request.app.state.pool, service.client_scope(client)) as connection:
            message_id = await service.receive(connection, client, body, media_type, clock.now())
        return Response(Received(message_id, MessageState.RECEIVED), status_code=202)

    @get("/", opt={"roles": ADMINS}, summary="My municipality's received messages: their states, never their content")
    async def inbox(self, read: Read, limit: Limit = 100) -> InboxPage:
        return await admin.inbox_page(read, limit)

    @get("/settings", opt={"roles": ADMINS}, summary="My municipality's messaging settings")
    async def settings(self, db: AsyncSession, actor: Actor) -> MessagingSettings:
        return await admin.settings_of(db, actor)

    @put("/settings", opt={"roles": ADMINS}, summary="Set my municipality's messaging settings")
    async def set_settings(
        self, db: AsyncSession, actor: Actor, data: MessagingSettings, clock: Clock
    ) -> MessagingSettings:
        return await admin.set_settings(db, actor, data, clock.now())
