"""An alert's life after the climb: on the way, at the bedside, resolved, reopened; and what stops it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from backend.clock import Clock
from backend.config import Settings
from tests.alerts.helpers import (
    act,
    alert_events,
    alert_row,
    count_alerts,
    full_roster,
    later,
    notifications,
    raise_alert,
    raise_body,
    sweep_at,
    tiers_fired,
)
from tests.cases.helpers import Client, Sessions, write_headers
from tests.factories import World
from tests.visits.coordination_helpers import make_case


async def test_the_holder_goes_to_the_bedside_and_resolves_it_and_it_can_be_reopened(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.nurse_a, raise_body(case_id), "/mobile/v1/alerts")
    alert_id = raised["id"]
    assert (await act(client, world.nurse_a, alert_id, "acknowledge")).status_code == 200

    # Someone else cannot say they are on the way with her alert.
    refused = await act(client, world.coordinator, alert_id, "on-the-way")
    assert refused.status_code == 409 and refused.json()["rule"] == "not_holder"
    later(mid_shift, settings, world, 60)
    on_the_way = await client.post(f"/mobile/v1/alerts/{alert_id}/on-the-way", headers=write_headers(world.nurse_a))
    assert on_the_way.status_code == 200 and on_the_way.json()["status"] == "on_the_way"
    later(mid_shift, settings, world, 600)
    at_bedside = await act(client, world.nurse_a, alert_id, "at-bedside")
    assert at_bedside.json()["status"] == "at_bedside"
    resolved = await act(client, world.nurse_a, alert_id, "resolve", {"outcome": "managed_at_home"})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["outcome"] == "managed_at_home" and resolved.json()["status"] == "resolved"
    kinds = [kind for kind, _ in await alert_events(sessions, alert_id)]
    assert kinds[-4:] == ["alert.acknowledged", "alert.on_the_way", "alert.at_bedside", "alert.resolved"]

    # The ledger: acknowledged at once, at the bedside after 11 minutes, managed at home.
    window = {"from": (mid_shift.now() - timedelta(hours=1)).isoformat(), "to": mid_shift.now().isoformat()}
    ledger = (await client.get("/alerts/ledger", params=window, headers=world.coordinator.headers)).json()
    (entry,) = [a for a in ledger["alerts"] if a["alert_id"] == alert_id]
    assert entry["seconds_to_acknowledge"] < 5 and 655 < entry["seconds_to_bedside"] < 665
    (per_case,) = [c for c in ledger["cases"] if c["case_id"] == str(case_id)]
    assert per_case == {
        "case_id": str(case_id),
        "alerts": 1,
        "resolved_at_home": 1,
        "admissions": 0,
        "followed_by_admission": 0,
    }

    # The pain comes back: reopened, it climbs again from the first tier.
    reopened = await act(client, world.coordinator, alert_id, "reopen")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "open" and reopened.json()["tier"] == 0 and reopened.json()["outcome"] is None
    assert [(t.climb, t.tier) for t in await tiers_fired(sessions, alert_id)] == [(0, 0), (1, 0)]


async def test_handing_over_gives_the_alert_to_a_colleague(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    raised = await raise_alert(client, world.coordinator, raise_body(case_id))
    await act(client, world.nurse_a, raised["id"], "acknowledge")

    to_outsider = await act(client, world.nurse_a, raised["id"], "hand-over", {"to_user_id": str(uuid.uuid4())})
    handed = await act(client, world.nurse_a, raised["id"], "hand-over", {"to_user_id": str(world.nurse_b.user_id)})

    assert to_outsider.status_code == 422 and to_outsider.json()["field"] == "to_user_id"
    assert handed.status_code == 200 and handed.json()["acknowledged_by"] == str(world.nurse_b.user_id)
    # Now nurse A no longer holds it.
    late = await act(client, world.nurse_a, raised["id"], "resolve", {"outcome": "false_alarm"})
    assert late.status_code == 409 and late.json()["rule"] == "not_holder"


async def test_the_death_of_the_person_stops_all_paging(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    pain = await raise_alert(client, world.nurse_a, raise_body(case_id))
    breath = await raise_alert(client, world.nurse_a, raise_body(case_id, reason="breathlessness"))

    death = await client.post(
        f"/cases/{case_id}/death",
        json={
            "died_at": (mid_shift.now() - timedelta(minutes=5)).isoformat(),
            "place": "home",
            "present": "Hustru og datter",
            "gp_informed": True,
        },
        headers=write_headers(world.coordinator),
    )
    assert death.status_code in (200, 201), death.text

    later(mid_shift, settings, world, 3600)
    await sweep_at(sessions, settings, mid_shift)
    for alert_id in (pain["id"], breath["id"]):
        alert = await alert_row(sessions, alert_id)
        assert alert.paging_stopped_reason == "person_died" and alert.next_escalation_at is None
        assert [t.tier for t in await tiers_fired(sessions, alert_id)] == [0]
        assert not [n for n in await notifications(sessions, alert_id) if n.kind != "first"]
    # And nothing new can be raised on the case.
    refused = await client.post("/alerts", json=raise_body(case_id), headers=write_headers(world.coordinator))
    assert refused.status_code == 409 and refused.json()["rule"] == "case_not_live"


async def test_bad_input_is_refused_by_name_and_writes_nothing(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    case_id = await make_case(client, world, mid_shift)
    other_district = await make_case(client, world, mid_shift, district="b")

    async def refused(login: object, body: dict[str, object]) -> dict[str, object]:
        response = await client.post("/alerts", json=body, headers=write_headers(login))  # type: ignore[arg-type]
        assert 400 <= response.status_code < 500, response.text
        return {"status": response.status_code, **response.json()}

    unknown_reason = await refused(world.coordinator, raise_body(case_id, reason="boredom"))
    assert unknown_reason["status"] == 400 and unknown_reason["field"] == "reason"
    unknown_case = await refused(world.coordinator, raise_body(uuid.uuid4()))
    assert unknown_case["status"] == 404
    not_her_district = await refused(world.nurse_a, raise_body(other_district))
    assert not_her_district["status"] == 404
    future = await refused(
        world.coordinator, raise_body(case_id, raised_at=(mid_shift.now() + timedelta(hours=1)).isoformat())
    )
    assert future["field"] == "raised_at"
    too_long = await refused(world.coordinator, raise_body(case_id, note="x" * 2001))
    assert too_long["field"] == "note"
    admin = await client.post("/alerts", json=raise_body(case_id), headers=write_headers(world.admin))
    assert admin.status_code == 403
    assert await count_alerts(sessions, case_id) == 0 and await count_alerts(sessions, other_district) == 0

    raised = await raise_alert(client, world.coordinator, raise_body(case_id))
    assert (
        await act(client, world.coordinator, raised["id"], "resolve", {"outcome": "false_alarm"})
    ).status_code == 200
    closed = await act(client, world.nurse_a, raised["id"], "acknowledge")
    assert closed.status_code == 409 and closed.json()["rule"] == "alert_resolved"
    nurse_b = await act(client, world.nurse_b, raised["id"], "acknowledge")
    assert nurse_b.status_code == 404  # another district's alert does not exist for her
    bad_outcome = await act(client, world.coordinator, raised["id"], "resolve", {"outcome": "vanished"})
    assert bad_outcome.status_code == 400 and bad_outcome.json()["field"] == "outcome"
    assert (await act(client, world.coordinator, raised["id"], "fly-away")).status_code in (400, 404)


async def test_an_alert_queued_offline_keeps_its_time_and_a_resent_batch_raises_nothing_new(
    client: Client, world: World, sessions: Sessions, mid_shift: Clock
) -> None:
    await full_roster(client, world, mid_shift)
    case_id = await make_case(client, world, mid_shift)
    raised_on_phone = mid_shift.now() - timedelta(minutes=12)
    batch = {
        "operations": [
            {
                "client_op_id": f"op-{uuid.uuid4().hex}",
                "type": "raise_alert",
                "device_time": raised_on_phone.isoformat(),
                "body": {
                    "client_id": str(uuid.uuid4()),
                    "case_id": str(case_id),
                    "reason": "bleeding",
                    "severity": "critical",
                },
            }
        ]
    }

    first = await client.post("/mobile/v1/sync", json=batch, headers=world.nurse_a.headers)
    again = await client.post("/mobile/v1/sync", json=batch, headers=world.nurse_a.headers)

    (result,) = first.json()["results"]
    assert result["outcome"] == "applied" and result["status"] == 201, result
    assert 715 < result["result"]["arrival_delay_seconds"] < 725
    assert result["result"]["raised_at"].startswith(raised_on_phone.isoformat()[:19])
    (replay,) = again.json()["results"]
    assert replay["replayed"] is True and replay["result"]["id"] == result["result"]["id"]
    assert await count_alerts(sessions, case_id) == 1


async def test_the_palliative_unit_decides_by_phone_and_its_decision_is_the_outcome(
    client: Client, world: World, sessions: Sessions, settings: Settings, mid_shift: Clock
) -> None:
    case_id = await make_case(client, world, mid_shift)
    # An empty roster: the first two tiers find nobody and the unit is called at once.
    raised = await raise_alert(client, world.coordinator, raise_body(case_id))
    assert raised["tier"] == 2

    listed = (await client.get("/alerts", headers=world.unit.headers)).json()["alerts"]
    assert [a["id"] for a in listed] == [raised["id"]]
    staff = (await client.get("/staff", headers=world.unit.headers)).json()
    assert str(world.coordinator.user_id) in {p["id"] for p in staff}
    decided = await act(client, world.unit, raised["id"], "unit-decision", {"decision": "palliative_stay"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["outcome"] == "palliative_stay" and decided.json()["unit_decision"] == "palliative_stay"
    assert decided.json()["status"] == "resolved"
    # Only the unit records the unit's decision.
    nurse = await act(client, world.nurse_a, raised["id"], "unit-decision", {"decision": "hospital"})
    assert nurse.status_code == 403
