"""Prometheus metrics: what an operator watches, labelled by route templates, never by ids."""

from __future__ import annotations

import dataclasses
import re

from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.clock import Clock
from backend.config import Settings
from tests.alerts.helpers import raise_alert, raise_body
from tests.cases.helpers import Client
from tests.factories import World
from tests.visits.coordination_helpers import make_case


async def test_metrics_count_requests_by_route_and_show_open_alerts(client: Client, world: World, clock: Clock) -> None:
    case_id = await make_case(client, world, clock)
    await raise_alert(client, world.coordinator, raise_body(case_id, severity="high"))
    await client.get(f"/cases/{case_id}", headers=world.coordinator.headers)

    answer = await client.get("/metrics")

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert 'lindra_http_requests_total{method="GET",route="/cases/{case_id}",status="200"}' in text
    assert re.search(r'lindra_open_alerts\{severity="high",status="open"\} [1-9]', text)
    for name in ("lindra_websocket_clients", "lindra_notify_queue_usage", "lindra_escalation_lateness_seconds"):
        assert name in text
    # No ids in any label: the routes are templates.
    assert str(case_id) not in text


async def test_metrics_want_the_token_when_one_is_set(settings: Settings, clock: Clock) -> None:
    app = create_app(dataclasses.replace(settings, metrics_token="scrape-me", housekeeping=False), clock)
    async with AsyncTestClient(app=app) as guarded:
        assert (await guarded.get("/metrics")).status_code == 401
        assert (await guarded.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await guarded.get("/metrics", headers={"Authorization": "Bearer scrape-me"})).status_code == 200
