"""Who is asking: the authenticated user, as the database has it now.

The access token alone is not trusted: its device may have been revoked (a lost phone) or its
user deleted since it was issued. One query answers both and loads the user's scope; each instance
keeps the answer (`KnownActors`) only for as long as it would hear of a change to it.
"""

from __future__ import annotations

import enum
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from backend.errors import Problem
from backend.people.models import Role
from backend.people.tokens import AccessClaims, read_access_token

PUBLIC = "public"


class Actor(msgspec.Struct, frozen=True):
    user_id: uuid.UUID
    device_id: uuid.UUID
    role: Role
    organisation_id: uuid.UUID
    # The municipality the user works for (for a district's nurse: the district's municipality).
    municipality_id: uuid.UUID | None
    district_ids: tuple[uuid.UUID, ...]
    # For the palliative unit and the regional team: the municipalities they serve.
    served_municipality_ids: tuple[uuid.UUID, ...]
    request_id: str


class SystemRole(enum.StrEnum):
    """What changes a case on no person's behalf; the audit log's role column names it."""

    HOSPITAL_NOTICE = "hospital_notice"  # a MedCom hospital notification, applied by the worker
    ESCALATION = "escalation"  # the escalation engine, releasing an acknowledgement nobody followed up
    # A municipality's identity provider: an account made or changed at sign-in, a sign-out it
    # sent, a refusal at refresh. Logged under the municipality's id.
    IDENTITY_PROVIDER = "identity_provider"
    CARE_RECORD = "care_record"  # a care-record system reading a case (its FHIR export)
    CORRESPONDENCE = "correspondence"  # a MedCom CareCommunication landing on a case, by the worker


class SystemActor(msgspec.Struct, frozen=True):
    """A system acting without a person, such as a hospital notice being applied.

    It is audited as itself: the delivering system client's id in the log's user_id column, its
    role in the role column, and the message's id as the request id. It sees no scope: the caller
    has already found the case (a notice by CPR and episode, within the client's municipality).
    """

    client_id: uuid.UUID
    role: SystemRole
    request_id: str


_LOAD_ACTOR = """
    SELECT u.role, u.organisation_id, o.kind, o.parent_id,
           ARRAY(SELECT district_id FROM user_districts WHERE user_id = u.id) AS districts,
           ARRAY(SELECT municipality_id FROM organisation_serves WHERE provider_id = u.organisation_id)
               AS served
    FROM devices d
    JOIN users u ON u.id = d.user_id
    JOIN organisations o ON o.id = u.organisation_id
    WHERE d.id = $1 AND u.id = $2
      AND d.revoked_at IS NULL AND u.deleted_at IS NULL
    """


def unauthenticated(detail: str = "Log in again.") -> Problem:
    return Problem(401, "Not authenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_claims(connection: ASGIConnection[Any, Any, Any, Any], secret: str, now: datetime) -> AccessClaims:
    """The claims of the Authorization header's bearer token. Tokens in URLs are refused."""
    if "access_token" in connection.query_params or "token" in connection.query_params:
        raise Problem(
            400,
            "Token in URL",
            "Send the token in the Authorization header, never in the URL.",
            field="access_token",
        )
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("An Authorization: Bearer header is required.")
    claims = read_access_token(secret, token.strip(), now)
    if claims is None:
        raise unauthenticated("The access token is invalid or has expired.")
    return claims


async def load_actor(connection: asyncpg.Connection, claims: AccessClaims, request_id: str) -> Actor:
    row = await connection.fetchrow(_LOAD_ACTOR, claims.device_id, claims.user_id)
    if row is None:
        raise unauthenticated("This device has been signed out.")
    municipality = row["organisation_id"] if row["kind"] == "municipality" else row["parent_id"]
    return Actor(
        user_id=claims.user_id,
        device_id=claims.device_id,
        role=Role(row["role"]),
        organisation_id=row["organisation_id"],
        municipality_id=municipality,
        district_ids=tuple(row["districts"]),
        served_municipality_ids=tuple(row["served"]),
        request_id=request_id,
    )


# Triggers announce every change to the rows an actor is made of here (migration 20261123_0007).
ACTORS_CHANNEL = "lindra_actors"


class KnownActors:
    """The actors this instance loaded lately, so that a request need not ask the database who calls.

    Trusted only while the instance listens on `ACTORS_CHANNEL` (`trust`, `distrust`: the realtime
    hub's connection): a change announced there, from whichever instance or tool wrote it, forgets
    them all within moments of its commit. Changes are rare, a phone polls every few seconds. An
    actor is kept `max_age` seconds at most: the bound an open WebSocket's re-check has.
    """

    def __init__(self, max_age: float = 60.0, size: int = 10_000) -> None:
        self.max_age = max_age
        self.size = size
        self._known: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, Actor]] = {}
        self._trusted = False
        self._generation = 0  # moves on with every `forget`: a load begun before it is not kept

    def trust(self) -> None:
        self.forget()
        self._trusted = True

    def distrust(self) -> None:
        self._trusted = False
        self.forget()

    def forget(self, *_notification: object) -> None:
        """Forget every actor (also the LISTEN callback, hence the ignored arguments)."""
        self._known.clear()
        self._generation += 1

    async def load(self, pool: asyncpg.Pool, claims: AccessClaims, request_id: str) -> Actor:
        """The claims' actor: the one kept, or read afresh and kept unless a change was announced meanwhile."""
        key = (claims.device_id, claims.user_id)
        known = self._known.get(key)
        if known is not None and known[0] > time.monotonic():
            return msgspec.structs.replace(known[1], request_id=request_id)
        generation = self._generation
        async with pool.acquire() as connection:
            actor = await load_actor(connection, claims, request_id)
        if self._trusted and generation == self._generation:
            self._known.pop(key, None)
            if len(self._known) >= self.size:
                del self._known[next(iter(self._known))]  # the longest kept
            self._known[key] = (time.monotonic() + self.max_age, actor)
        return actor


def allowed_roles(handler: BaseRouteHandler) -> frozenset[Role] | str:
    """The roles a route declares in its `opt`; a route that declares none is refused to all."""
    roles = handler.opt.get("roles")
    if roles == PUBLIC:
        return PUBLIC
    return frozenset(roles or ())


def check_role(actor: Actor, handler: BaseRouteHandler) -> None:
    roles = allowed_roles(handler)
    if roles != PUBLIC and actor.role not in roles:
        raise Problem(403, "Forbidden", f"The role {actor.role.value} may not do this.", rule="role")
