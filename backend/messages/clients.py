"""System clients: the machines (a municipality's message broker) that deliver MedCom messages.

A system client is never a person: it has a role of its own (`ClientRole`), no user, no device,
no password, and reaches only the routes that declare its role (`opt={CLIENT_ROLE: ...}`); a
person's token is refused there and its secret is refused everywhere else. It authenticates with
`Authorization: Bearer <secret>`: 256 random bits shown once when the operator creates it
(`lindra client create`), stored as their SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import msgspec
from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from backend.errors import Problem
from backend.messages.models import ClientRole, SystemClient
from backend.people.actor import unauthenticated
from backend.people.models import Organisation, OrganisationKind

# The route option that makes a route a system client's, naming the role it needs.
CLIENT_ROLE = "client_role"
SECRET_PREFIX = "lindra_sc_"


class Client(msgspec.Struct, frozen=True):
    """The authenticated system client of a request."""

    id: uuid.UUID
    name: str
    municipality_id: uuid.UUID
    role: ClientRole
    ack_url: str | None


def hash_secret(secret: str) -> str:
    """What is stored of a secret (a high-entropy random value needs no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def create_client(
    session: AsyncSession, municipality_id: uuid.UUID, name: str, role: ClientRole, ack_url: str | None
) -> tuple[uuid.UUID, str]:
    """A new system client of a municipality: its id and its secret, which is never shown again."""
    organisation = await session.get(Organisation, municipality_id)
    if organisation is None or organisation.kind != OrganisationKind.MUNICIPALITY:
        raise ValueError("no municipality with this id")
    if ack_url is not None and not ack_url.startswith(("https://", "http://")):
        raise ValueError("the acknowledgement URL must be http(s)")
    secret = new_secret()
    client = SystemClient(
        municipality_id=municipality_id, name=name, role=role.value, secret_hash=hash_secret(secret), ack_url=ack_url
    )
    session.add(client)
    await session.flush()
    return client.id, secret


_LOAD = """
    SELECT id, name, municipality_id, role, ack_url FROM system_clients
    WHERE secret_hash = $1 AND revoked_at IS NULL
    """


async def authenticate_client(request: Request[Any, Any, Any], role: str) -> Client:
    """The system client the request's bearer secret names, if it has `role` (401, 403 otherwise)."""
    if "access_token" in request.query_params or "token" in request.query_params:
        raise Problem(400, "Token in URL", "Send the secret in the Authorization header.", field="access_token")
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip().startswith(SECRET_PREFIX):
        raise unauthenticated("A system client's Authorization: Bearer secret is required.")
    async with request.app.state.pool.acquire() as connection:
        row = await connection.fetchrow(_LOAD, hash_secret(secret.strip()))
    if row is None:
        raise unauthenticated("The client secret is unknown or revoked.")
    if row["role"] != role:
        raise Problem(403, "Forbidden", f"The client role {row['role']} may not do this.", rule="role")
    return Client(row["id"], row["name"], row["municipality_id"], ClientRole(row["role"]), row["ack_url"])


def provide_client(request: Request[Any, Any, Any]) -> Client:
    """The system client `authenticate` found for this request."""
    client: Client = request.state.client
    return client


async def create_client_as_operator(
    database_url: str, municipality_id: uuid.UUID, name: str, ack_url: str | None, role: ClientRole = ClientRole.INBOX
) -> tuple[uuid.UUID, str]:
    """`lindra client create`: a municipality's message broker, or its care-record system, made by the operator."""
    from backend.db import make_engine, make_sessionmaker

    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await create_client(session, municipality_id, name, role, ack_url)
    finally:
        await engine.dispose()
