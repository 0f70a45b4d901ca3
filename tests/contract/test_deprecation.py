"""Retiring an operation: Deprecation and Sunset on every answer first, and the document says so."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from backend.deprecation import deprecation_middleware, document_retirements
from tests.cases.helpers import Client


@get("/old-shape", opt={"deprecated_on": date(2027, 1, 1), "sunset_on": date(2027, 7, 1)}, sync_to_thread=False)
def retiring() -> dict[str, int]:
    return {"kept": 1}


@get("/current-shape", sync_to_thread=False)
def current() -> dict[str, int]:
    return {"kept": 1}


async def test_a_retiring_operation_says_when_it_was_deprecated_and_when_it_goes() -> None:
    app = Litestar([retiring, current], middleware=[deprecation_middleware])
    document_retirements(app)
    async with AsyncTestClient(app=app) as http:
        old = await http.get("/old-shape")
        new = await http.get("/current-shape")
        document: dict[str, Any] = (await http.get("/schema/openapi.json")).json()
    assert old.status_code == 200 and old.json() == {"kept": 1}
    assert old.headers["deprecation"] == "@1798761600"  # 2027-01-01T00:00:00Z
    assert old.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert "sunset" not in new.headers and "deprecation" not in new.headers
    operation = document["paths"]["/old-shape"]["get"]
    assert operation["deprecated"] is True
    assert {"Deprecation", "Sunset"} <= set(operation["responses"]["200"]["headers"])
    assert not document["paths"]["/current-shape"]["get"].get("deprecated")


async def test_no_operation_of_the_phone_is_retiring_unnoticed_and_replays_are_documented(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    raise_alert = document["paths"]["/mobile/v1/alerts"]["post"]
    success = next(answer for status, answer in raise_alert["responses"].items() if status.startswith("2"))
    assert "Idempotency-Replayed" in success["headers"]
    deprecated = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("deprecated")
    ]
    assert deprecated == []  # none yet: the API changelog in README lists each one when it comes
