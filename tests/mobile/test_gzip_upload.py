"""A sync batch sent gzipped from a weak signal: unpacked once the login is checked, never beyond the limit."""

from __future__ import annotations

import gzip
import json
from typing import Any

from httpx import Response

from backend.clock import Clock
from backend.gzip_bodies import MAX_BODY_BYTES
from backend.visits.models import SymptomAssessment, SyncOperation
from tests.cases.helpers import Client, Sessions, count_rows
from tests.factories import World
from tests.mobile.helpers import count
from tests.mobile.test_sync import _case_with_visit, visit_batch


async def _post(client: Client, headers: dict[str, str], body: bytes, encoding: str = "gzip") -> Response:
    headers = headers | {"Content-Type": "application/json", "Content-Encoding": encoding}
    return await client.post("/mobile/v1/sync", content=body, headers=headers)


def _packed(payload: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(payload).encode())


async def test_a_gzipped_batch_applies_as_a_plain_one_would(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    case_id, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = visit_batch(clock, visit_id)
    plain = json.dumps({"operations": batch}).encode()
    packed = _packed({"operations": batch})
    assert len(packed) * 2 < len(plain)

    response = await _post(client, world.nurse_a.headers, packed)
    assert response.status_code == 200, response.text
    assert [r["outcome"] for r in response.json()["results"]] == ["applied"] * len(batch)
    assert await count_rows(sessions, SymptomAssessment, case_id) == 1

    # The same batch again, gzipped or not, changes nothing.
    again = await _post(client, world.nurse_a.headers, plain, encoding="identity")
    assert [r["replayed"] for r in again.json()["results"]] == [True] * len(batch)
    assert await count_rows(sessions, SymptomAssessment, case_id) == 1


async def test_a_body_that_unpacks_beyond_the_limit_is_refused_and_nothing_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    _, visit_id = await _case_with_visit(client, world, clock, sessions)
    batch = visit_batch(clock, visit_id)
    batch[0]["body"]["padding"] = " " * (2 * MAX_BODY_BYTES)
    bomb = _packed({"operations": batch})
    assert len(bomb) < 10_000  # a few kilobytes on the wire
    before = await count(sessions, SyncOperation)

    response = await _post(client, world.nurse_a.headers, bomb)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert f"at most {MAX_BODY_BYTES} bytes" in response.json()["detail"]
    assert await count(sessions, SyncOperation) == before


async def test_a_broken_or_unknown_encoding_is_refused_by_name_and_nothing_is_written(
    client: Client, world: World, clock: Clock, sessions: Sessions
) -> None:
    _, visit_id = await _case_with_visit(client, world, clock, sessions)
    packed = _packed({"operations": visit_batch(clock, visit_id)})
    before = await count(sessions, SyncOperation)

    for body in (b"not gzip at all", packed[: len(packed) // 2]):
        response = await _post(client, world.nurse_a.headers, body)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "$"
        assert "gzip" in response.json()["detail"]

    response = await _post(client, world.nurse_a.headers, packed, encoding="br")
    assert response.status_code == 415
    assert response.json()["field"] == "Content-Encoding"
    assert await count(sessions, SyncOperation) == before


async def test_without_a_login_a_gzipped_body_is_not_even_unpacked(client: Client) -> None:
    response = await _post(client, {}, b"not gzip at all")
    assert response.status_code == 401
    response = await _post(client, {}, b"whatever", encoding="br")
    assert response.status_code == 401
