"""Idempotent writes: a client-generated key per change, the first answer stored with the change.

Phones and browsers retry. The key row is inserted in the same transaction as the change it
guards, so either both exist or neither does; a concurrent duplicate waits on the key's row lock
and then answers from it. A replay answers the first answer's status and body, and says it is a
replay with the header `Idempotency-Replayed: true` (a phone that lost the first answer learns
that its raise was already made, not made twice).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import ForeignKey, String, bindparam, delete, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from backend.config import Settings
from backend.errors import Problem
from backend.orm import Base, now_column
from backend.people.actor import Actor

T = TypeVar("T")

REPLAYED_HEADER = "Idempotency-Replayed"
_REPLAYED = "lindra.idempotent_replay"  # set in the request's scope state when its answer is a replay


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_column()


def fingerprint(method: str, path: str, body: object) -> str:
    """What the request asked for; the same key with another request is refused."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(msgspec.json.encode(body))
    return digest.hexdigest()


IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="A client-generated id for this change (e.g. a UUID); retries send the same one.",
    ),
]


@dataclass(frozen=True, slots=True)
class Write:
    """One idempotent change, as a handler sees it: the request's transaction, who makes it, its key.

    Provided per request as the `write` dependency (`provide_write`), so a write handler takes
    `write: Write` instead of the request, the transaction, the actor and the Idempotency-Key header.
    """

    db: AsyncSession
    actor: Actor
    key: str
    method: str
    path: str
    state: dict[str, Any]  # the request's scope state: a replay is marked there for its answer's header

    async def once(self, body: object, result_type: type[T], produce: Callable[[], Awaitable[T]]) -> T:
        """`run_once` for this request: its method, path and body are the fingerprint."""
        request_print = fingerprint(self.method, self.path, body)
        result, replayed = await run_once(self.db, self.actor, self.key, request_print, result_type, produce)
        if replayed:
            self.state[_REPLAYED] = True
        return result


def provide_write(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, idempotency_key: IdempotencyKeyHeader
) -> Write:
    """The `write` dependency: only for an authenticated caller (`actor`) who sent an Idempotency-Key."""
    return Write(db, actor, idempotency_key, request.method, request.url.path, request.scope.setdefault("state", {}))


def replay_header_middleware(app: ASGIApp) -> ASGIApp:
    """Mark a replayed answer with `Idempotency-Replayed: true` (it keeps the first answer's status)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("state", {}).get(_REPLAYED):
                message["headers"] = [*message.get("headers", []), (REPLAYED_HEADER.lower().encode(), b"true")]
            await send(message)

        await app(scope, receive, send_marked)

    return middleware


# Written out once (every write passes here); the values are bound per call.
_CLAIM = text(
    "INSERT INTO idempotency_keys (user_id, key, fingerprint) VALUES (:user_id, :key, :fingerprint) "
    "ON CONFLICT DO NOTHING RETURNING key"
)
_STORED = text(
    "SELECT fingerprint, response, created_at FROM idempotency_keys WHERE user_id = :user_id AND key = :key"
).columns(fingerprint=String, response=JSONB)
# A replay shows the first answer again: a read of the cases that answer was about. Those are the
# cases the first request's audit rows name, found as the rows its user wrote in its transaction
# (`at` and the key's `created_at` are both that transaction's now(); the (user_id, at) index finds them).
_AUDIT_REPLAY = text(
    """
    INSERT INTO audit_log (user_id, role, action, case_id, request_id)
    SELECT DISTINCT CAST(:user_id AS uuid), CAST(:role AS text), 'idempotent.replay', a.case_id,
                    CAST(:request_id AS text)
    FROM audit_log a
    WHERE a.user_id = CAST(:user_id AS uuid) AND a.at = :answered_at AND a.case_id IS NOT NULL
    """
)
_ANSWER = text("UPDATE idempotency_keys SET response = :response WHERE user_id = :user_id AND key = :key").bindparams(
    bindparam("response", type_=JSONB)
)


async def run_once(
    session: AsyncSession,
    actor: Actor,
    key: str,
    request_fingerprint: str,
    result_type: type[T],
    produce: Callable[[], Awaitable[T]],
) -> tuple[T, bool]:
    """Run `produce` the first time `key` is seen for this user; afterwards return its first answer,
    audited as a read of the cases it was about. The answer, and whether it is a replay."""
    ids = {"user_id": actor.user_id, "key": key}
    claimed = await session.execute(_CLAIM, {**ids, "fingerprint": request_fingerprint})
    if claimed.first() is None:
        stored = (await session.execute(_STORED, ids)).one()
        if stored.fingerprint != request_fingerprint:
            raise Problem(
                422,
                "Idempotency key reused",
                "This Idempotency-Key was already used for a different request.",
                field="Idempotency-Key",
            )
        replay = {"user_id": actor.user_id, "role": actor.role.value, "request_id": actor.request_id}
        await session.execute(_AUDIT_REPLAY, {**replay, "answered_at": stored.created_at})
        return msgspec.convert(stored.response, result_type, strict=False), True
    result = await produce()
    await session.execute(_ANSWER, {**ids, "response": msgspec.to_builtins(result)})
    return result, False


async def purge_keys(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Forget stored answers older than the retention: they may hold names, and nobody retries that late."""
    cutoff = now - timedelta(hours=settings.idempotency_retention_hours)
    purged = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return int(purged.rowcount or 0)  # type: ignore[attr-defined]
