"""A local stand-in for FCM HTTP v1 and Google's OAuth2 token endpoint.

Tests and benchmarks point the real firebase-admin at it (through a service-account file whose
`token_uri` is the stub, see `write_service_account`), so authentication, retries, timeouts and
error parsing are firebase-admin's own and nothing ever reaches Google. It records every request
and can be told to misbehave, from Python (`FcmStub` methods) or over HTTP from other processes:

    GET  /_stub/requests    every recorded request, oldest first, as JSON
    POST /_stub/behaviour   e.g. {"unregistered": ["tok"], "fail_next": 2, "failure": "UNAVAILABLE",
                             "fail_for_seconds": 10, "delay_seconds": 1.5, "token_status": 400}
    POST /_stub/reset       forget recordings and behaviour

By hand: `python -m backend.alerts.fcm_stub --port 9099 --service-account stub-sa.json`.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")

# FCM error code -> (HTTP status, google.rpc status, message), as FCM answers them.
ERRORS: dict[str, tuple[int, str, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "INVALID_TOKEN": (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for this project."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the stub saw it, and what it answered."""

    received_at: float  # time.time()
    method: str
    path: str
    project: str | None  # for sends
    headers: dict[str, str]  # names lower-cased
    body: Any  # the JSON of a send; the form fields of a token request
    status: int
    answer: Any  # the JSON the stub answered

    @property
    def is_send(self) -> bool:
        return self.project is not None


def fcm_error_body(code: str) -> tuple[int, dict[str, Any]]:
    """The status and body FCM answers for an error code of `ERRORS`."""
    status, rpc_status, message = ERRORS[code]
    fcm_code = "INVALID_ARGUMENT" if code == "INVALID_TOKEN" else code
    return status, {
        "error": {
            "code": status,
            "message": message,
            "status": rpc_status,
            "details": [{"@type": FCM_ERROR_TYPE, "errorCode": fcm_code}],
        }
    }


class FcmStub:
    """The stub server: `start()` it (or use it as a context manager), point firebase-admin at `url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server((host, port), _Handler, self)
        self._thread: threading.Thread | None = None
        self._recorded: list[RecordedRequest] = []
        self._issued_tokens: set[str] = set()  # kept across reset, so live clients stay authorised
        self.reset()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fcm-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; requests sleeping in a delay are let go at once."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget recorded requests and all programmed behaviour."""
        with self._lock:
            self._recorded.clear()
            self._token_errors: dict[str, str] = {}
            self._fail_next = 0
            self._fail_until = 0.0
            self._failure = "UNAVAILABLE"
            self._delay = 0.0
            self._token_status = 200

    def unregister(self, *tokens: str) -> None:
        """Sends to these tokens answer 404 UNREGISTERED (the app was uninstalled)."""
        self._set_token_error("UNREGISTERED", tokens)

    def invalidate(self, *tokens: str) -> None:
        """Sends to these tokens answer 400 INVALID_ARGUMENT, "not a valid FCM registration token"."""
        self._set_token_error("INVALID_TOKEN", tokens)

    def mismatch_sender(self, *tokens: str) -> None:
        """Sends to these tokens answer 403 SENDER_ID_MISMATCH (a token of another Firebase project)."""
        self._set_token_error("SENDER_ID_MISMATCH", tokens)

    def fail_next(self, count: int, failure: str = "UNAVAILABLE") -> None:
        """The next `count` sends answer `failure` (a key of `ERRORS`), whatever their token."""
        self._check_failure(failure)
        with self._lock:
            self._fail_next, self._failure = count, failure

    def fail_for(self, seconds: float, failure: str = "UNAVAILABLE") -> None:
        """Every send in the next `seconds` answers `failure`."""
        self._check_failure(failure)
        with self._lock:
            self._fail_until, self._failure = time.monotonic() + seconds, failure

    def delay(self, seconds: float) -> None:
        """Hold every send this long before answering (a slow FCM, or a timeout for the client)."""
        with self._lock:
            self._delay = seconds

    def token_status(self, status: int) -> None:
        """Make the OAuth token endpoint answer this status (200 restores it)."""
        with self._lock:
            self._token_status = status

    def apply(self, behaviour: dict[str, Any]) -> None:
        """Apply a behaviour document, as posted to /_stub/behaviour."""
        known = {"unregistered", "invalid", "sender_mismatch", "fail_next", "fail_for_seconds", "failure",
                 "delay_seconds", "token_status"}  # fmt: skip
        unknown = set(behaviour) - known
        if unknown:
            raise ValueError(f"unknown behaviour keys: {sorted(unknown)}")
        failure = str(behaviour.get("failure", "UNAVAILABLE"))
        self._check_failure(failure)  # before changing anything
        self.unregister(*behaviour.get("unregistered", ()))
        self.invalidate(*behaviour.get("invalid", ()))
        self.mismatch_sender(*behaviour.get("sender_mismatch", ()))
        if "fail_next" in behaviour:
            self.fail_next(int(behaviour["fail_next"]), failure)
        if "fail_for_seconds" in behaviour:
            self.fail_for(float(behaviour["fail_for_seconds"]), failure)
        if "delay_seconds" in behaviour:
            self.delay(float(behaviour["delay_seconds"]))
        if "token_status" in behaviour:
            self.token_status(int(behaviour["token_status"]))

    # --- what was received -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (token and sends, not control calls), oldest first."""
        with self._lock:
            return list(self._recorded)

    def sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_send]

    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/token"]

    def write_service_account(self, path: Path, project_id: str = "lindra-stub") -> Path:
        return write_service_account(path, self.token_uri, project_id)

    # --- used by the handler ---------------------------------------------------------------------

    def _set_token_error(self, code: str, tokens: tuple[str, ...]) -> None:
        with self._lock:
            self._token_errors.update(dict.fromkeys(tokens, code))

    @staticmethod
    def _check_failure(failure: str) -> None:
        if failure not in ERRORS:
            raise ValueError(f"unknown failure {failure!r}; one of {sorted(ERRORS)}")

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._recorded.append(request)

    def _answer_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            status = self._token_status
        if form.get("grant_type") != JWT_BEARER_GRANT or not form.get("assertion"):
            return 400, {"error": "invalid_grant", "error_description": "expected a JWT-bearer grant"}
        if status != 200:
            return status, {"error": "internal_failure" if status >= 500 else "invalid_grant"}
        token = f"stub-access-{uuid.uuid4().hex}"
        with self._lock:
            self._issued_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _answer_send(self, project: str, authorization: str, body: Any) -> tuple[int, dict[str, Any], float]:
        """Decide the answer to a send (consuming one `fail_next`); the last item is the delay."""
        with self._lock:
            delay = self._delay
            if authorization.removeprefix("Bearer ") not in self._issued_tokens:
                return 401, _rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."), delay
            message = body.get("message") if isinstance(body, dict) else None
            if not isinstance(message, dict) or not isinstance(message.get("token"), str):
                return 400, _rpc_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), delay
            if self._fail_next > 0 or time.monotonic() < self._fail_until:
                self._fail_next = max(0, self._fail_next - 1)
                return (*fcm_error_body(self._failure), delay)
            if message["token"] in self._token_errors:
                return (*fcm_error_body(self._token_errors[message["token"]]), delay)
        message_id = "fake_message_id" if body.get("validate_only") else uuid.uuid4().hex
        return 200, {"name": f"projects/{project}/messages/{message_id}"}, delay

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _rpc_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # firebase-admin opens up to 100 connections at once

    def __init__(self, address: tuple[str, int], handler: type[_Handler], stub: FcmStub) -> None:
        super().__init__(address, handler)
        self.stub = stub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out) while we were delaying is expected, not an error."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as firebase-admin's httpx client expects
    # The headers and the body go out in two writes: with Nagle's algorithm the body waited for the
    # client's delayed ACK, and every answer took 40 ms more than FCM's would.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recordings are the log."""

    def do_GET(self) -> None:
        if self.path == "/_stub/requests":
            self._reply(200, [asdict(r) for r in self.server.stub.requests])
        else:
            self._reply(404, _rpc_error(404, "NOT_FOUND", "not found"))

    def do_POST(self) -> None:
        stub = self.server.stub
        received_at = time.time()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        if self.path == "/_stub/reset":
            stub.reset()
            self._reply(200, {})
        elif self.path == "/_stub/behaviour":
            try:
                stub.apply(json.loads(raw or b"{}"))
            except (ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})
            else:
                self._reply(200, {})
        elif self.path == "/token":
            form = dict(parse_qsl(raw.decode()))
            status, answer = stub._answer_token(form)
            stub._record(RecordedRequest(received_at, "POST", self.path, None, headers, form, status, answer))
            self._reply(status, answer)
        elif match := _SEND_PATH.match(self.path):
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            status, answer, delay = stub._answer_send(match["project"], headers.get("authorization", ""), body)
            project = match["project"]
            stub._record(RecordedRequest(received_at, "POST", self.path, project, headers, body, status, answer))
            if delay:
                stub._wait(delay)
            self._reply(status, answer)
        else:
            self._reply(404, _rpc_error(404, "NOT_FOUND", "not found"))

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@functools.cache
def _private_key_pem() -> str:
    """One throwaway RSA key per process: generating it is the slow part of a service-account file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def write_service_account(path: Path, token_uri: str, project_id: str = "lindra-stub") -> Path:
    """Write a service-account JSON that firebase-admin accepts, with its token endpoint at `token_uri`.

    The key is generated on the spot and signs only requests to the stub; nothing here is secret.
    """
    email = f"lindra-push@{project_id}.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex,
        "private_key": _private_key_pem(),
        "client_email": email,
        "client_id": str(uuid.uuid4().int)[:21],
        "auth_uri": token_uri.rsplit("/", 1)[0] + "/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "",
        "client_x509_cert_url": "",
    }
    path.write_text(json.dumps(info, indent=2))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a local FCM HTTP v1 + OAuth2 token stub.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--service-account", type=Path, help="also write a service-account JSON for the stub here")
    parser.add_argument("--project", default="lindra-stub")
    args = parser.parse_args(argv)
    with FcmStub(args.host, args.port) as stub:
        print(stub.url, flush=True)
        if args.service_account:
            stub.write_service_account(args.service_account, args.project)
            print(f"LINDRA_FCM_URL={stub.url} LINDRA_FCM_CREDENTIALS={args.service_account.resolve()}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
