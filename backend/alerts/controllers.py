"""HTTP routes for alerts, escalation policies, alert coverage and the ledger: parse, call one service function."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post, put
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.alerts import lifecycle, policies, raising, reading, targets
from backend.alerts import schemas as s
from backend.alerts.lifecycle import Action
from backend.alerts.models import Severity, Source
from backend.cases.access import CARE_GIVERS, CASE_MANAGERS, CLINICAL_ROLES
from backend.clock import Clock
from backend.idempotency import Write
from backend.people.actor import Actor
from backend.people.models import Role
from backend.wire import checked

MUNICIPAL_STAFF = frozenset({Role.NURSE, Role.COORDINATOR, Role.KEY_PERSON, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
UNIT = frozenset({Role.PALLIATIVE_UNIT})
LEDGER_READERS = CASE_MANAGERS | {Role.PALLIATIVE_UNIT}


class AlertController(Controller):
    path = "/alerts"
    tags = ["alerts"]

    @get("/", opt={"roles": CLINICAL_ROLES}, summary="Open alerts (and those resolved in the last hours)")
    async def list_alerts(
        self, db: AsyncSession, actor: Actor, resolved_hours: Annotated[int, Parameter(ge=0, le=168)] = 12
    ) -> s.AlertListOut:
        return await reading.list_alerts(db, actor, resolved_hours)

    @post(
        "/",
        opt={"roles": CARE_GIVERS},
        operation_id="raiseAlertFromBoard",
        summary="Raise an alert from the board (e.g. after a relative's call)",
    )
    async def raise_alert(self, write: Write, clock: Clock, data: s.AlertRaiseIn) -> s.AlertOut:
        return await write.once(
            data, s.AlertOut, lambda: raising.raise_alert(write.db, write.actor, data, Source.BOARD, clock.now())
        )

    @get("/ledger", opt={"roles": LEDGER_READERS}, summary="Per alert and per case: response times and outcomes")
    async def ledger(
        self,
        db: AsyncSession,
        actor: Actor,
        starts: Annotated[datetime, QueryParameter(name="from")],
        ends: Annotated[datetime, QueryParameter(name="to")],
    ) -> s.LedgerOut:
        return await reading.ledger(db, actor, checked(starts, "from"), checked(ends, "to"))

    @get(
        "/{alert_id:uuid}",
        opt={"roles": CLINICAL_ROLES},
        operation_id="getAlertForBoard",
        summary="An alert with its tiers fired and whom it called",
    )
    async def get_alert(self, db: AsyncSession, actor: Actor, alert_id: uuid.UUID) -> s.AlertDetailOut:
        return await reading.get_alert(db, actor, alert_id)

    @post(
        "/{alert_id:uuid}/{action:str}",
        opt={"roles": CLINICAL_ROLES},
        status_code=200,
        operation_id="actOnAlertFromBoard",
        summary="Acknowledge, on the way, at the bedside, reopen, or escalate now (coordinator)",
    )
    async def act(self, write: Write, clock: Clock, alert_id: uuid.UUID, action: Action) -> s.AlertOut:
        return await write.once(
            None, s.AlertOut, lambda: lifecycle.act(write.db, write.actor, alert_id, action, clock.now())
        )

    @post(
        "/{alert_id:uuid}/hand-over",
        opt={"roles": CARE_GIVERS},
        status_code=200,
        summary="Hand the alert to a colleague",
    )
    async def hand_over(self, write: Write, clock: Clock, alert_id: uuid.UUID, data: s.HandOverIn) -> s.AlertOut:
        return await write.once(
            data, s.AlertOut, lambda: lifecycle.hand_over(write.db, write.actor, alert_id, data, clock.now())
        )

    @post(
        "/{alert_id:uuid}/resolve",
        opt={"roles": CLINICAL_ROLES},
        status_code=200,
        operation_id="resolveAlertFromBoard",
        summary="Resolve with an outcome",
    )
    async def resolve(self, write: Write, clock: Clock, alert_id: uuid.UUID, data: s.ResolveIn) -> s.AlertOut:
        return await write.once(
            data, s.AlertOut, lambda: lifecycle.resolve(write.db, write.actor, alert_id, data, clock.now())
        )

    @post(
        "/{alert_id:uuid}/unit-decision",
        opt={"roles": UNIT},
        status_code=200,
        summary="The palliative unit's decision (advice, outreach, stay, hospital); it resolves the alert",
    )
    async def unit_decision(
        self, write: Write, clock: Clock, alert_id: uuid.UUID, data: s.UnitDecisionIn
    ) -> s.AlertOut:
        return await write.once(
            data, s.AlertOut, lambda: lifecycle.unit_decision(write.db, write.actor, alert_id, data, clock.now())
        )


class PolicyController(Controller):
    path = "/alert-policies"
    tags = ["alerts"]

    @get("/", opt={"roles": MUNICIPAL_STAFF}, summary="The escalation policy of each severity")
    async def get_policies(self, db: AsyncSession, actor: Actor) -> s.PoliciesOut:
        return await policies.get_policies(db, actor)

    @get(
        "/coverage",
        opt={"roles": MUNICIPAL_STAFF},
        operation_id="getAlertCoverage",
        summary="Shifts and districts where a tier would find nobody",
    )
    async def coverage(
        self, db: AsyncSession, actor: Actor, clock: Clock, hours: Annotated[int, Parameter(ge=1, le=168)] = 24
    ) -> s.AlertCoverageOut:
        return await targets.coverage(db, actor, clock.now(), hours)

    @put("/{severity:str}", opt={"roles": ADMINS}, summary="Replace a severity's tiers (alerts under way keep theirs)")
    async def set_policy(self, write: Write, severity: Severity, data: s.PolicyIn) -> s.PolicyOut:
        return await write.once(data, s.PolicyOut, lambda: policies.set_policy(write.db, write.actor, severity, data))


ALERT_CONTROLLERS: list[type] = [AlertController, PolicyController]
