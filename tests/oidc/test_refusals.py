"""Every answer Lindra must refuse at sign-in, each on its own: a clear error, nobody created,
and nothing logged that names the person.

The provider's token endpoint is made to hand back a crafted ID token (`substitute_id_token`),
so each check is met where it stands in the real flow."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.oidc.conftest import Federated, users_of
from tests.oidc.idp import NURSES, Phone, SigningKey, returned

Sessions = async_sessionmaker[AsyncSession]
ATTACKER = SigningKey("k1")  # claims the provider's key id, signs with its own key


async def _refused_with(
    phone: Phone,
    federated: Federated,
    person: str,
    sessions: Sessions,
    caplog: pytest.LogCaptureFixture,
    id_token: Callable[[str], str],
) -> httpx.Response:
    """Sign in with the provider's token answer carrying `id_token(nonce)`; check nothing came of it."""
    await federated.provider.account(person, groups=[NURSES])
    before = await users_of(sessions, federated.world)
    caplog.set_level(logging.DEBUG)
    started = await phone.start()
    await federated.provider.substitute_id_token(id_token(returned(started["authorize_url"])["nonce"]))
    back = returned(await phone.browser.sign_in(started["authorize_url"], person))

    answer = await phone.hand_over(back)

    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await users_of(sessions, federated.world) == before
    assert person not in caplog.text
    return answer


def _claims(federated: Federated, person: str, nonce: str, **changes: object) -> dict[str, object]:
    return federated.provider.id_claims(person, nonce, **changes)


async def test_a_forged_id_token_is_refused(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await _refused_with(
        phone, federated, person, sessions, caplog, lambda nonce: ATTACKER.sign(_claims(federated, person, nonce))
    )
    assert (answer.status_code, answer.json()["rule"]) == (401, "oidc_signature")


async def test_an_expired_id_token_is_refused(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    past = int(time.time()) - 3600
    signer = federated.provider.keys[0]
    answer = await _refused_with(
        phone,
        federated,
        person,
        sessions,
        caplog,
        lambda nonce: signer.sign(_claims(federated, person, nonce, iat=past - 600, exp=past)),
    )
    assert (answer.status_code, answer.json()["rule"]) == (401, "oidc_expired")


async def test_an_id_token_for_another_audience_is_refused(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    signer = federated.provider.keys[0]
    answer = await _refused_with(
        phone,
        federated,
        person,
        sessions,
        caplog,
        lambda nonce: signer.sign(_claims(federated, person, nonce, aud="another-system")),
    )
    assert (answer.status_code, answer.json()["rule"]) == (401, "oidc_audience")


async def test_an_unsigned_id_token_alg_none_is_refused(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await _refused_with(
        phone,
        federated,
        person,
        sessions,
        caplog,
        lambda nonce: jwt.encode(_claims(federated, person, nonce), None, algorithm="none", headers={"kid": "k1"}),
    )
    assert (answer.status_code, answer.json()["rule"]) == (401, "oidc_algorithm_not_allowed")


async def test_an_id_token_signed_with_an_unknown_key_is_refused(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    signer = federated.provider.keys[0]
    answer = await _refused_with(
        phone,
        federated,
        person,
        sessions,
        caplog,
        lambda nonce: signer.sign(_claims(federated, person, nonce), kid="not-published"),
    )
    assert (answer.status_code, answer.json()["rule"]) == (401, "oidc_unknown_signing_key")


async def test_an_id_token_with_another_nonce_is_refused(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    signer = federated.provider.keys[0]
    answer = await _refused_with(
        phone,
        federated,
        person,
        sessions,
        caplog,
        lambda nonce: signer.sign(_claims(federated, person, secrets.token_urlsafe(32))),
    )
    assert (answer.status_code, answer.json()["rule"]) == (401, "oidc_nonce")


async def test_a_replayed_code_is_refused(phone: Phone, federated: Federated, person: str, sessions: Sessions) -> None:
    await federated.provider.account(person, groups=[NURSES])
    back = await phone.at_provider(person)
    assert (await phone.hand_over(back)).status_code == 200
    before = await users_of(sessions, federated.world)

    replayed = await phone.hand_over(back)

    assert replayed.status_code == 400, replayed.text
    assert (replayed.json()["field"], replayed.json()["rule"]) == ("state", "oidc_state")
    assert await users_of(sessions, federated.world) == before


async def test_a_state_no_sign_in_began_is_refused(phone: Phone, federated: Federated, person: str) -> None:
    await federated.provider.account(person, groups=[NURSES])
    back = await phone.at_provider(person)

    answer = await phone.hand_over(back, state=secrets.token_urlsafe(32))

    assert answer.status_code == 400, answer.text
    assert answer.json()["rule"] == "oidc_state"


async def test_a_state_begun_by_another_app_is_refused(phone: Phone, federated: Federated, person: str) -> None:
    """A code and state caught from another phone's redirect are worthless without its device key."""
    await federated.provider.account(person, groups=[NURSES])
    back = await phone.at_provider(person)

    answer = await phone.hand_over(back, device_key=secrets.token_urlsafe(32))

    assert answer.status_code == 400, answer.text
    assert answer.json()["rule"] == "oidc_state"


async def test_a_wrong_pkce_verifier_is_refused(phone: Phone, federated: Federated, person: str) -> None:
    await federated.provider.account(person, groups=[NURSES])
    back = await phone.at_provider(person)

    answer = await phone.hand_over(back, code_verifier=secrets.token_urlsafe(48))

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "code_verifier"


async def test_a_person_the_mapping_does_not_know_is_refused_and_nothing_is_made(
    phone: Phone, federated: Federated, person: str, sessions: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    await federated.provider.account(person, groups=["kantine", "parkering"], name="Ukendt Person")
    before = await users_of(sessions, federated.world)
    caplog.set_level(logging.DEBUG)

    answer = await phone.sign_in(person)

    assert answer.status_code == 403, answer.text
    assert answer.json()["rule"] == "federation_unmapped"
    assert "administrator" in answer.json()["detail"]
    assert await users_of(sessions, federated.world) == before
    assert person not in caplog.text and "Ukendt" not in caplog.text


async def _signed_in_devices(phone: Phone, federated: Federated, person: str) -> dict[str, str]:
    await federated.provider.account(person, groups=[NURSES])
    answer = await phone.sign_in(person)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _logout_claims(federated: Federated, person: str) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": federated.provider.issuer,
        "aud": "lindra",
        "sub": person,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_hex(8),
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda claims: jwt.encode(claims, None, algorithm="none"), id="unsigned"),
        pytest.param(lambda claims: ATTACKER.sign(claims), id="badly-signed"),
    ],
)
async def test_a_logout_token_the_provider_did_not_sign_signs_nobody_out(
    phone: Phone, federated: Federated, person: str, make: Callable[[dict[str, object]], str]
) -> None:
    headers = await _signed_in_devices(phone, federated, person)

    answer = await phone.api.post(
        f"/auth/oidc/backchannel-logout/{federated.world.municipality_id}",
        data={"logout_token": make(_logout_claims(federated, person))},
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "logout_token"
    assert (await phone.api.get("/me", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"events": {}}, id="no-logout-event"),
        pytest.param({"nonce": "n"}, id="with-a-nonce"),
        pytest.param({"sub": None}, id="neither-sid-nor-sub"),
        pytest.param({"aud": "another-system"}, id="another-audience"),
    ],
)
async def test_a_provider_signed_token_that_is_no_logout_token_signs_nobody_out(
    phone: Phone, federated: Federated, person: str, change: dict[str, object]
) -> None:
    headers = await _signed_in_devices(phone, federated, person)
    claims = {k: v for k, v in (_logout_claims(federated, person) | change).items() if v is not None}

    answer = await phone.api.post(
        f"/auth/oidc/backchannel-logout/{federated.world.municipality_id}",
        data={"logout_token": federated.provider.keys[0].sign(claims)},
    )

    assert answer.status_code == 400, answer.text
    assert (await phone.api.get("/me", headers=headers)).status_code == 200


async def test_a_browser_sent_back_with_a_code_it_did_not_ask_for_sees_a_page_not_a_session(
    federated: Federated,
) -> None:
    async with httpx.AsyncClient(
        base_url=federated.url,
        headers={"Accept-Language": "en"},
        cookies={"lindra_oidc": secrets.token_urlsafe(32)},
    ) as http:
        answer = await http.get(
            "/auth/oidc/callback", params={"code": secrets.token_urlsafe(32), "state": secrets.token_urlsafe(32)}
        )
    assert answer.status_code == 403
    assert 'data-reason="failed"' in answer.text and "could not be accepted" in answer.text
    assert "set-cookie" not in answer.headers


async def test_a_browser_that_began_no_sign_in_collects_nothing(federated: Federated) -> None:
    """A browser that began no sign-in (no cookie) gets nothing from the board's collection point."""
    async with httpx.AsyncClient(base_url=federated.url) as http:
        answer = await http.post(
            "/auth/oidc/collect",
            json={"device_key": secrets.token_urlsafe(32), "device": {"platform": "web", "app_version": "t"}},
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["rule"] == "oidc_state"
