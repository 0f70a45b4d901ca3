"""The live board's page at /board: static HTML, CSS and ES modules from the package, nothing from the internet.

The page holds no data, so it is public; every call it makes carries the logged-in user's token.
A strict Content-Security-Policy keeps it to its own scripts and its own origin (plus the
WebSocket), so a name that slipped markup into a record could not run script on the board.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from backend.people.actor import PUBLIC

STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def add_security_headers(response: Response) -> Response:
    """Every file of the page carries the policy (the HTML is what the browser enforces it from)."""
    response.headers.update(SECURITY_HEADERS)
    return response


board_page = create_static_files_router(
    path="/board",
    directories=[STATIC_DIR],
    html_mode=True,  # /board and /board/ answer with index.html
    name="board",
    opt={"roles": PUBLIC},
    after_request=add_security_headers,
    # Revalidate each time: after an upgrade the board must not keep running yesterday's script.
    cache_control=CacheControlHeader(no_cache=True),
    include_in_schema=False,
)
