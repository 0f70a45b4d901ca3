"""An administrator stops a person in Lindra (a leaver, whatever her way in), and lets her in again."""

from __future__ import annotations

from tests.factories import World
from tests.mail import MailServer
from tests.people.helpers import Client, choose_password, login, with_key


async def test_a_disabled_person_is_signed_out_and_cannot_log_in_until_enabled(client: Client, world: World) -> None:
    person = world.key_person

    stopped = await client.post(f"/admin/users/{person.user_id}/disable", headers=with_key(world.admin.headers))

    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["devices_revoked"] == 1
    assert (await client.get("/me", headers=person.headers)).status_code == 401
    assert (await login(client, person.email)).status_code == 401
    enabled = await client.post(f"/admin/users/{person.user_id}/enable", headers=with_key(world.admin.headers))
    assert (enabled.status_code, enabled.json()["disabled_at"]) == (200, None)
    assert (await login(client, person.email)).status_code == 200


async def test_a_code_mailed_before_she_was_disabled_no_longer_signs_her_in(
    client: Client, world: World, mail_server: MailServer
) -> None:
    person = world.key_person
    reset = await client.post(f"/admin/users/{person.user_id}/password-reset", headers=with_key(world.admin.headers))
    assert reset.status_code == 200, reset.text
    code = mail_server.code_for(person.email)
    await client.post(f"/admin/users/{person.user_id}/disable", headers=with_key(world.admin.headers))

    refused = await choose_password(client, code, "nattevagt med varm te og kage")

    assert (refused.status_code, refused.json()["field"]) == (400, "code")


async def test_an_administrator_cannot_disable_herself(client: Client, world: World) -> None:
    answer = await client.post(f"/admin/users/{world.admin.user_id}/disable", headers=with_key(world.admin.headers))

    assert (answer.status_code, answer.json()["rule"]) == (409, "not_self")
