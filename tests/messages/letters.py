"""Letters in tests: MedCom CareCommunication examples to change, the care team with its SOR
identifiers, the municipality's own, and writing a letter from a case."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from tests.cases.helpers import write_headers
from tests.factories import Login, World
from tests.messages.helpers import Client

OUR_SOR, OUR_EAN = "452011000016004", "5790000123458"
GP_SOR, GP_EAN = "265161000016000", "5790000209354"


def encode(message: dict[str, Any]) -> bytes:
    return msgspec.json.encode(message)


def communication(message: dict[str, Any]) -> dict[str, Any]:
    """The message's Communication, to change in place."""
    found: dict[str, Any] = next(
        e["resource"] for e in message["entry"] if e["resource"]["resourceType"] == "Communication"
    )
    return found


async def set_care_team(client: Client, world: World, case_id: str, **fields: Any) -> None:
    response = await client.put(f"/cases/{case_id}/care-team", json=fields, headers=write_headers(world.coordinator))
    assert response.status_code == 200, response.text


async def ready_to_write(client: Client, world: World, case_id: str, gp_sor: str | None = GP_SOR) -> None:
    """The municipality's own SOR and the GP's in the care team, as a letter needs them."""
    settings = {"care_record_acknowledges": False, "sor": OUR_SOR, "ean": OUR_EAN}
    response = await client.put("/messages/settings", json=settings, headers=world.admin.headers)
    assert response.status_code == 200, response.text
    team: dict[str, Any] = {
        "gp_name": "Lægerne på Nørrebrogade",
        "gp_ean": GP_EAN,
        "hospital_department": "Onkologisk afdeling",
        "key_person_id": str(world.key_person.user_id),
    }
    if gp_sor:
        team["gp_sor"] = gp_sor
    await set_care_team(client, world, case_id, **team)


async def write_letter(
    client: Client, login: Login, case_id: str, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    """POST a letter from the case; its answer (a letter, or the problem)."""
    response = await client.post(
        f"/cases/{case_id}/correspondence", json=body, headers=write_headers(login, str(uuid.uuid4()))
    )
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()
    return found
