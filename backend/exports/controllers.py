"""HTTP for the data out: a case as a FHIR Bundle, and the national data set's bulk export."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from backend.cases.access import CASE_MANAGERS
from backend.clock import Clock
from backend.deps import Read, request_id
from backend.exports import bulk, fhir_case
from backend.exports.models import ExportStatus
from backend.exports.schemas import ExportAccepted, Manifest
from backend.idempotency import Write
from backend.messages.clients import CLIENT_ROLE, Client, provide_client
from backend.messages.models import ClientRole
from backend.messages.service import client_scope
from backend.people.actor import Actor, SystemActor, SystemRole
from backend.row_scope import acquire
from backend.wire import checked

FHIR_JSON = "application/fhir+json"
FirstDay = Annotated[date, QueryParameter(name="from", description="First Copenhagen day, included")]
LastDay = Annotated[
    date, QueryParameter(name="to", description="Last Copenhagen day, included; required, and before today")
]


def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


class CaseExportController(Controller):
    path = "/cases"
    tags = ["exports"]

    @get(
        "/{case_id:uuid}/fhir",
        opt={"roles": CASE_MANAGERS},
        media_type=FHIR_JSON,
        summary="The case as a FHIR R4 Bundle (collection), for the citizen's right of access; audited",
    )
    async def export_case(self, read: Read, case_id: uuid.UUID) -> Response[bytes]:
        bundle = await fhir_case.case_bundle(read.pg, read.actor, case_id, read.now)
        return Response(msgspec.json.encode(bundle), media_type=FHIR_JSON)


class NationalExportController(Controller):
    path = "/exports/national"
    tags = ["exports"]

    @post(
        "/",
        opt={"roles": CASE_MANAGERS},
        status_code=202,
        summary="Kick off the pseudonymised national data set for a period (FHIR Bulk Data $export)",
        description="202 with Content-Location: poll it until 200 with the manifest.",
    )
    async def kick_off_national_export(
        self, request: Request[Any, Any, Any], write: Write, clock: Clock, first_day: FirstDay, last_day: LastDay
    ) -> Response[ExportAccepted]:
        first_day, last_day = checked(first_day, "from"), checked(last_day, "to")
        body = {"from": first_day.isoformat(), "to": last_day.isoformat()}
        accepted = await write.once(
            body, ExportAccepted, lambda: bulk.kick_off(write.db, write.actor, first_day, last_day, clock.today())
        )
        headers = {"Content-Location": _base(request) + accepted.status_url}
        return Response(accepted, status_code=202, headers=headers)

    @get(
        "/{export_id:uuid}",
        opt={"roles": CASE_MANAGERS},
        summary="An export's status: 202 with X-Progress while it runs, 200 with the manifest when done",
        responses={202: ResponseSpec(None, description="Still being written: X-Progress says how far")},
    )
    async def national_export_status(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, export_id: uuid.UUID
    ) -> Response[Manifest | None]:
        job = await bulk.job_of(db, actor, export_id)
        if job.status == ExportStatus.DONE:
            return Response(bulk.manifest(job, _base(request)), headers={"Expires": "0"})
        if job.status == ExportStatus.FAILED:
            raise bulk.failed(job)
        return Response(None, status_code=202, headers={"X-Progress": bulk.progress(job), "Retry-After": "2"})

    @get(
        "/{export_id:uuid}/files/{resource_type:str}",
        opt={"roles": CASE_MANAGERS},
        media_type=bulk.NDJSON,
        summary="One file of a finished export: NDJSON, one resource a line; audited",
    )
    async def national_export_file(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, export_id: uuid.UUID, resource_type: str
    ) -> Stream:
        await bulk.check_file(db, actor, export_id, resource_type)
        await db.commit()  # the download's audit row stands before the first byte leaves
        chunks = bulk.file_chunks(request.app.state.pool, actor, export_id, resource_type)
        return Stream(chunks, media_type=bulk.NDJSON)


class CareRecordController(Controller):
    path = "/care-record"
    tags = ["exports"]
    dependencies = {"client": Provide(provide_client, sync_to_thread=False)}

    @get(
        "/cases/{case_id:uuid}/fhir",
        opt={CLIENT_ROLE: ClientRole.CARE_RECORD.value},
        media_type=FHIR_JSON,
        summary="The case as a FHIR R4 Bundle for the municipality's care-record system (a system client); audited",
    )
    async def export_case_to_care_record(
        self, request: Request[Any, Any, Any], client: Client, clock: Clock, case_id: uuid.UUID
    ) -> Response[bytes]:
        who = SystemActor(client.id, SystemRole.CARE_RECORD, request_id(request))
        async with acquire(request.app.state.pool, client_scope(client)) as pg:
            bundle = await fhir_case.case_bundle_for_system(pg, who, client.municipality_id, case_id, clock.now())
        return Response(msgspec.json.encode(bundle), media_type=FHIR_JSON)


EXPORT_CONTROLLERS: list[type] = [CaseExportController, NationalExportController, CareRecordController]
