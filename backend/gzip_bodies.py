"""Request bodies a phone sends gzipped (`Content-Encoding: gzip`), unpacked as they are read.

A nurse back in signal after a dead zone may upload a sync batch of hundreds of operations; on a
weak connection a tenth of the bytes is the difference between a batch that gets through and one
that times out. The body is unpacked only when the route reads it, after the login check, and
never beyond the application's body limit, however small the packed form (a "zip bomb" answers
413). A body in another encoding answers 415; a broken gzip stream 400. Either way nothing is
written, since the route has not run.
"""

from __future__ import annotations

import zlib

from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from backend.errors import Problem

MAX_BODY_BYTES = 1_048_576  # the application's limit on a request body, unpacked


class _Unpacking:
    """`receive`, with each chunk of the body passed through one gzip decompressor."""

    def __init__(self, receive: Receive, encoding: str) -> None:
        self._receive = receive
        self._encoding = encoding
        self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._unpacked = 0

    async def __call__(self) -> ReceiveMessage:
        if self._encoding != "gzip":
            raise Problem(
                415,
                "Unsupported content encoding",
                f"Bodies may be sent as they are or gzipped, not as {self._encoding!r}.",
                field="Content-Encoding",
            )
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        more = message.get("more_body", False)
        try:
            body = self._gzip.decompress(message.get("body", b""), MAX_BODY_BYTES + 1 - self._unpacked)
        except zlib.error:
            raise Problem(400, "Invalid request", "The body is not a valid gzip stream.", field="$") from None
        self._unpacked += len(body)
        if self._unpacked > MAX_BODY_BYTES or self._gzip.unconsumed_tail:
            raise Problem(413, "Body too large", f"Unpacked, the body may be at most {MAX_BODY_BYTES} bytes.")
        if not more and not self._gzip.eof:
            raise Problem(400, "Invalid request", "The gzip stream of the body ends too early.", field="$")
        return HTTPRequestEvent(type="http.request", body=body, more_body=more)


def gzip_bodies_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            encoding = dict(scope["headers"]).get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
            if encoding != "identity":
                receive = _Unpacking(receive, encoding)
        await app(scope, receive, send)

    return middleware
