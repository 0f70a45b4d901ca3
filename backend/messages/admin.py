"""What an administrator sees of her municipality's inbox, and the messaging settings she sets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.deps import Read
from backend.errors import Problem
from backend.messages.models import MessageSettings
from backend.messages.schemas import InboxEntry, InboxPage, MessagingSettings
from backend.people.actor import Actor

_LATEST = """
    SELECT id, received_at, state, media_type, size, header_id, event_code, ack_code, error_code, error_element,
           reason, duplicates, processed_at
    FROM inbox_messages
    WHERE municipality_id = $1 AND state <> 'duplicate'
    ORDER BY received_at DESC, id
    LIMIT $2
    """
_COUNTS = """
    SELECT state, count(*) AS n FROM inbox_messages WHERE municipality_id = $1 AND state <> 'duplicate' GROUP BY state
    """


def _municipality(actor: Actor) -> object:
    if actor.municipality_id is None:
        raise Problem(403, "Forbidden", "Only a municipality's administrator follows its inbox.", rule="municipality")
    return actor.municipality_id


async def inbox_page(read: Read, limit: int) -> InboxPage:
    """The latest `limit` messages of the administrator's municipality, and the counts by state."""
    municipality = _municipality(read.actor)
    rows = await read.pg.fetch(_LATEST, municipality, limit)
    counts = {row["state"]: int(row["n"]) for row in await read.pg.fetch(_COUNTS, municipality)}
    return InboxPage([InboxEntry(**dict(row)) for row in rows], counts)


async def settings_of(db: AsyncSession, actor: Actor) -> MessagingSettings:
    """The municipality's messaging settings (the defaults until she sets them)."""
    found = await db.get(MessageSettings, _municipality(actor))
    return MessagingSettings(
        care_record_acknowledges=bool(found and found.care_record_acknowledges),
        visit_on_leave=bool(found and found.visit_on_leave),
        sor=found.sor if found else None,
        ean=found.ean if found else None,
    )


async def set_settings(db: AsyncSession, actor: Actor, wanted: MessagingSettings, now: datetime) -> MessagingSettings:
    """Set the municipality's messaging settings; they hold for every message processed after."""
    values = {
        "care_record_acknowledges": wanted.care_record_acknowledges,
        "visit_on_leave": wanted.visit_on_leave,
        "sor": wanted.sor,
        "ean": wanted.ean,
        "updated_at": now,
    }
    statement = insert(MessageSettings).values(municipality_id=_municipality(actor), **values)
    await db.execute(statement.on_conflict_do_update(index_elements=["municipality_id"], set_=values))
    return wanted
