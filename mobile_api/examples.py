"""Example bodies of the phone's requests, shown in the OpenAPI document beside each schema.

The phone team builds from the document; an example says at a glance what a night's request looks
like (times with the phone's own offset, ids the phone makes up). tests/contract checks every
example against the schema it illustrates.
"""

from __future__ import annotations

from litestar.openapi.spec import Example

VISIT = "6f1c2b7e-8d3a-4c55-9e0b-2a7d41c9e5f3"
CASE = "0b9d6c1e-3f4a-4e2b-8c7d-5a1e9f2b3c4d"

CHECK_IN = [
    Example(
        summary="At the door, with the phone's clock and position",
        value={"device_time": "2026-11-22T02:14:05+01:00", "position": {"lat": 55.6935, "lon": 12.5504}},
    )
]

SCORES = [
    Example(
        summary="ESAS-r at the bedside",
        value={
            "instrument": "ESAS-r",
            "scores": {"pain": 6, "tiredness": 8, "shortness_of_breath": 3, "anxiety": 5, "wellbeing": 7},
            "recorded_at": "2026-11-22T02:21:40+01:00",
        },
    )
]

RAISE = [
    Example(
        summary="Pain out of control: the palliative unit is needed now",
        value={
            "client_id": "d3b07384-d9a0-4c9b-8f2e-1f6a7c5e9b21",
            "case_id": CASE,
            "reason": "pain",
            "severity": "critical",
            "note": "Smerter 9/10 trods ekstra dosis morfin.",
            "raised_at": "2026-11-22T02:25:00+01:00",
        },
    )
]

SYNC = [
    Example(
        summary="A visit recorded without signal: check-in, scores and check-out, sent when back online",
        value={
            "operations": [
                {
                    "client_op_id": "night-0042-checkin",
                    "type": "check_in",
                    "device_time": "2026-11-22T03:02:00+01:00",
                    "visit_id": VISIT,
                    "body": {},
                },
                {
                    "client_op_id": "night-0042-scores",
                    "type": "scores",
                    "device_time": "2026-11-22T03:10:00+01:00",
                    "visit_id": VISIT,
                    "body": {"instrument": "ESAS-r", "scores": {"pain": 3, "anxiety": 2}},
                },
                {
                    "client_op_id": "night-0042-checkout",
                    "type": "check_out",
                    "device_time": "2026-11-22T03:31:00+01:00",
                    "visit_id": VISIT,
                    "body": {},
                },
            ]
        },
    )
]
