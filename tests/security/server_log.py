"""PostgreSQL's server log, as the tests read it: what the server wrote from a given moment on.

Found from the server itself: `pg_current_logfile()` when the logging collector runs, otherwise
`log` in its data directory (where the embedded PostgreSQL, started with `pg_ctl -l`, writes).
A server whose log is elsewhere (another machine, a managed service) names it in
LINDRA_TEST_PG_LOG; without a readable log the tests that read it fail, saying so.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import asyncpg


async def find_server_log(url: str) -> Path | None:
    """The file the PostgreSQL at `url` writes its log to; None when it is not readable here."""
    given = os.environ.get("LINDRA_TEST_PG_LOG")
    if given:
        return Path(given)
    connection = await asyncpg.connect(url)
    try:
        data_dir = Path(await connection.fetchval("SELECT current_setting('data_directory')"))
        current = await connection.fetchval("SELECT pg_current_logfile()")
    finally:
        await connection.close()
    found = data_dir / current if current else data_dir / "log"
    return found if found.is_file() else None


@dataclass
class ServerLog:
    """The server log from the moment `since` was taken (its size then) to now."""

    path: Path | None
    start: int

    @classmethod
    async def since_now(cls, url: str) -> ServerLog:
        path = await find_server_log(url)
        return cls(path, path.stat().st_size if path else 0)

    def written(self) -> str:
        """What the server wrote since the start (the file as bytes, decoded leniently)."""
        if self.path is None:
            raise AssertionError("PostgreSQL's log is not readable here: name its file in LINDRA_TEST_PG_LOG")
        with self.path.open("rb") as file:
            file.seek(self.start)
            return file.read().decode("utf-8", errors="replace")

    async def wait_for(self, text: str, seconds: float = 5.0) -> str:
        """What was written since the start, once it holds `text` (or after `seconds`)."""
        for _ in range(int(seconds / 0.05)):
            if text in (written := self.written()):
                return written
            await asyncio.sleep(0.05)
        return self.written()
