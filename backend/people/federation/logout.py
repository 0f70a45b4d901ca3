"""OpenID Connect Back-Channel Logout: the provider tells Lindra that a person's session ended.

When IT disables a leaver, or she signs out at the provider, the provider POSTs a logout token
to `/auth/oidc/backchannel-logout/<municipality id>`. Lindra checks it as strictly as an ID token
(the provider's key and algorithm, issuer, audience, age), plus what makes it a logout token:
the back-channel logout event, no nonce, a `sid` or a `sub`. Then it signs out the devices of
that provider session (`sid`), or of the person on every device (`sub` alone), at once: their
refresh tokens stop, their access tokens with the next request, their WebSockets close (4410).
Each device signed out is audited as the provider's doing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import record
from backend.config import Settings
from backend.errors import Problem
from backend.people.auth import revoke_devices
from backend.people.federation.discovery import ProviderDirectory, Untrusted
from backend.people.federation.mapping import provider_actor
from backend.people.federation.models import FederatedDevice, FederatedLink
from backend.people.federation.provider import OIDC, log, provider_of
from backend.people.models import Device

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _refused(reason: str) -> Problem:
    log.warning("a back-channel logout token was refused: %s", reason)
    return Problem(
        400, "Logout token not accepted", f"The logout token failed a check ({reason}).", field="logout_token"
    )


def _logout_claims(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
        raise _refused("events")
    if "nonce" in claims:
        raise _refused("nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not sid and not sub:
        raise _refused("sid or sub")
    return (str(sid) if sid else None), (str(sub) if sub else None)


async def backchannel_logout(
    session: AsyncSession,
    settings: Settings,
    directory: ProviderDirectory,
    now: datetime,
    municipality_id: uuid.UUID,
    logout_token: str,
    request_id: str,
) -> int:
    """Sign out what the logout token names; how many devices."""
    provider = await provider_of(session, settings, directory, municipality_id)
    try:
        claims = await directory.verified(provider.metadata, logout_token, provider.client_id)
    except Untrusted as error:
        raise _refused(str(error)) from None
    sid, sub = _logout_claims(claims)
    query = (
        select(FederatedDevice.device_id, FederatedLink.user_id)
        .join(FederatedLink, FederatedLink.id == FederatedDevice.link_id)
        .join(Device, Device.id == FederatedDevice.device_id)
        .where(
            FederatedLink.municipality_id == municipality_id,
            FederatedLink.provider == OIDC,
            Device.revoked_at.is_(None),
        )
    )
    if sid is not None:
        query = query.where(FederatedDevice.session_id == sid)
    if sub is not None:
        query = query.where(FederatedLink.subject == sub)
    revoked = 0
    actor = provider_actor(municipality_id, request_id)
    for device_id, user_id in (await session.execute(query)).all():
        for gone in await revoke_devices(session, now, "provider_logout", device_id=device_id):
            revoked += 1
            await record(
                session,
                actor,
                "user.devices.revoke",
                subject_user_id=user_id,
                detail={"device_id": str(gone), "reason": "provider_logout"},
            )
    return revoked
