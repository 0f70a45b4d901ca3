"""HTTP for Kannel: the delivery reports of Lindra's SMS and the replies people send.

Kannel alone calls these, with the shared secret (`LINDRA_SMS_CALLBACK_SECRET`) as HTTP Basic
credentials that it takes from the user-info of the URLs it is given and sends in an Authorization
header: the secret is never in a request line, and neither is a number or a text (a reply comes
as Kannel's `post-url`: the text in the body, the sender in X-Kannel-From). They act in the system
row scope: no person is signed in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter, QueryParameter
from msgspec import Struct

from backend.alerts.sms.gateway import CALLBACK_USER
from backend.alerts.sms.inbound import handle_reply, record_report
from backend.alerts.sms.models import ReplyOutcome
from backend.clock import Clock
from backend.db import transaction
from backend.errors import Problem
from backend.people.actor import PUBLIC
from backend.row_scope import SYSTEM

KANNEL = {"roles": PUBLIC}
MAX_REPLY_BYTES = 2_000  # a concatenated SMS of a few parts; anything longer is not a reply
GatewayId = Annotated[
    str, QueryParameter(name="id", min_length=1, max_length=64, description="Kannel's message id (%I in the post-url)")
]


class ReportOut(Struct, kw_only=True):
    sms_id: uuid.UUID
    status: str
    # False for a report that came twice, or after a later one: nothing changed.
    changed: bool


class ReplyOut(Struct, kw_only=True):
    outcome: ReplyOutcome
    # True when Kannel delivered this reply before: it got the first answer and changed nothing.
    replayed: bool


async def check_secret(request: Request[Any, Any, Any]) -> None:
    """Refuse a caller without the shared secret (and everyone while none is configured), before
    anything of the request is read: the routes' before_request, in place of the app's login check."""
    secret = request.app.state.settings.sms_callback_secret
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        user, _, given = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, given = "", ""
    if not (secret and scheme.lower() == "basic" and user == CALLBACK_USER and hmac.compare_digest(given, secret)):
        raise Problem(
            401,
            "Not the SMS gateway",
            "Only Kannel, with the shared secret as Basic credentials, may call this.",
            field="Authorization",
            headers={"WWW-Authenticate": 'Basic realm="lindra-sms"'},
        )


class KannelController(Controller):
    path = "/sms/kannel"
    tags = ["sms"]
    before_request = staticmethod(check_secret)

    @get(
        "/status",
        opt=KANNEL,
        security=[],
        summary="Kannel's delivery report of an SMS (its dlr-url); a replayed report changes nothing",
    )
    async def status(
        self,
        request: Request[Any, Any, Any],
        clock: Clock,
        sms: Annotated[uuid.UUID, Parameter(description="Lindra's SMS id, given in the dlr-url")],
        report: Annotated[int, QueryParameter(name="type", description="Kannel's report type (%d): 1, 2, 4, 8 or 16")],
    ) -> ReportOut:
        async for session in transaction(request.app.state.sessions, SYSTEM):
            status, changed = await record_report(session, sms, report, clock.now())
        return ReportOut(sms_id=sms, status=status, changed=changed)

    @post(
        "/inbound",
        opt=KANNEL,
        security=[],
        status_code=200,
        summary="An SMS to Lindra (Kannel's post-url): '1 <code>' from the number the code went to acknowledges",
    )
    async def inbound(self, request: Request[Any, Any, Any], clock: Clock, gateway_id: GatewayId) -> ReplyOut:
        sender = request.headers.get("x-kannel-from", "").strip()
        if not sender:
            raise Problem(422, "Sender missing", "Kannel sends the sender in X-Kannel-From.", field="X-Kannel-From")
        body = await request.body()
        if len(body) > MAX_REPLY_BYTES:
            raise Problem(413, "Too long", f"A reply is at most {MAX_REPLY_BYTES} bytes.", field="body")
        async for session in transaction(request.app.state.sessions, SYSTEM):
            outcome, replayed = await handle_reply(
                session, gateway_id, sender, body.decode("utf-8", errors="replace"), clock.now()
            )
        return ReplyOut(outcome=outcome, replayed=replayed)
