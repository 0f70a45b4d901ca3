"""The phone signs in with the municipality's provider (Authorization Code with PKCE, over HTTP),
and the mapping and the provider go on deciding at every refresh."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit.models import AuditEntry
from backend.people.federation.models import FederatedLink
from backend.people.models import Device, User, UserDistrict
from tests.oidc.conftest import Federated
from tests.oidc.idp import COORDINATORS, NURSES, Phone

Sessions = async_sessionmaker[AsyncSession]


async def _user(sessions: Sessions, federated: Federated, subject: str) -> User:
    async with sessions() as session:
        user = await session.scalar(
            select(User)
            .join(FederatedLink, FederatedLink.user_id == User.id)
            .where(FederatedLink.municipality_id == federated.world.municipality_id, FederatedLink.subject == subject)
        )
        assert user is not None
        return user


async def test_a_mapped_nurse_signs_in_on_her_phone_and_is_created_with_her_district(
    phone: Phone, federated: Federated, person: str, sessions: Sessions
) -> None:
    await federated.provider.account(person, groups=[NURSES, "some-other-group"])

    answer = await phone.sign_in(person)

    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["user"]["role"] == "nurse"
    me = await phone.api.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["district_ids"] == [str(federated.world.district_a)]
    assert me.json()["email"] == f"{person}@kommune.test"
    user = await _user(sessions, federated, person)
    async with sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action).where(AuditEntry.subject_user_id == user.id)))
    assert "user.federated.create" in actions
    assert (await phone.refresh()).status_code == 200  # checked at the provider, still active


async def test_a_changed_group_takes_effect_at_the_next_refresh(
    phone: Phone, federated: Federated, person: str
) -> None:
    await federated.provider.account(person, groups=[NURSES])
    assert (await phone.sign_in(person)).status_code == 200

    await federated.provider.account(person, groups=[COORDINATORS])
    refreshed = await phone.refresh()

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["user"]["role"] == "coordinator"


async def test_a_person_disabled_at_the_provider_is_refused_at_her_next_refresh(
    phone: Phone, federated: Federated, person: str, sessions: Sessions
) -> None:
    await federated.provider.account(person, groups=[NURSES])
    tokens = (await phone.sign_in(person)).json()

    await federated.provider.account(person, groups=[NURSES], active=False)
    refused = await phone.refresh()

    assert refused.status_code == 401, refused.text
    async with sessions() as session:
        device = await session.get_one(Device, uuid.UUID(tokens["device_id"]))
        audited = await session.scalar(
            select(AuditEntry.detail).where(
                AuditEntry.subject_user_id == device.user_id,
                AuditEntry.role == "identity_provider",
                AuditEntry.action == "user.devices.revoke",
            )
        )
    assert device.revoked_reason == "provider_refused"
    assert audited == {"device_id": tokens["device_id"], "reason": "provider_refused"}
    me = await phone.api.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401


async def test_a_person_an_administrator_disables_cannot_refresh_or_sign_in_again(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, api: httpx.AsyncClient
) -> None:
    await federated.provider.account(person, groups=[NURSES])
    assert (await phone.sign_in(person)).status_code == 200
    user = await _user(sessions, federated, person)

    stopped = await api.post(
        f"/admin/users/{user.id}/disable",
        headers=federated.world.admin.headers | {"Idempotency-Key": str(uuid.uuid4())},
    )

    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["devices_revoked"] == 1
    assert (await phone.refresh()).status_code == 401
    again = await phone.sign_in(person)
    assert again.status_code == 403, again.text
    assert again.json()["rule"] == "federation_disabled"


async def test_a_first_sign_in_links_the_local_account_with_her_address(
    phone: Phone, federated: Federated, sessions: Sessions
) -> None:
    local = federated.world.coordinator
    subject = local.email.split("@")[0] + "-sub"
    async with sessions.begin() as session:
        user = await session.get_one(User, local.user_id)
        user.email = f"{subject}@kommune.test"
    await federated.provider.account(subject, groups=[COORDINATORS])

    answer = await phone.sign_in(subject)

    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["id"] == str(local.user_id)
    async with sessions() as session:
        districts = list(await session.scalars(select(UserDistrict).where(UserDistrict.user_id == local.user_id)))
    assert districts == []
