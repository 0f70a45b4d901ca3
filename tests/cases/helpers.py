"""Making cases through the API, as a coordinator would."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import Login

_rng = random.SystemRandom()


def valid_cpr() -> str:
    """A CPR number that is valid in form and unique enough for tests sharing one database."""
    born = date(1930, 1, 1) + timedelta(days=_rng.randrange(36 * 365))
    return born.strftime("%d%m%y") + str(_rng.randrange(0, 4)) + f"{_rng.randrange(1000):03d}"


def write_headers(login: Login, key: str | None = None) -> dict[str, str]:
    return login.headers | {"Idempotency-Key": key or str(uuid.uuid4())}


def case_body(district_id: uuid.UUID, received_on: date, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "cpr": valid_cpr(),
        "name": "Karen Testesen",
        "address": "Testvej 1, 2200 København N",
        "phone": "+45 12 34 56 78",
        "district_id": str(district_id),
        "diagnosis": "Lungekræft med knoglemetastaser",
        "icd10": "C34.9",
        "phase": "late",
        "referral": {"received_on": received_on.isoformat(), "source": "hospital_ref01"},
    }
    body.update(overrides)
    return body


async def create_case(
    client: AsyncTestClient[Litestar], login: Login, district_id: uuid.UUID, received_on: date, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/cases", json=case_body(district_id, received_on, **overrides), headers=write_headers(login)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
