"""The log of the whole test run, and the scan that looks in it (and in PostgreSQL's) for secrets.

Every log record of the run is written to one file by `RunLog`. A finding names the kind of
secret and where it was found, never the secret itself.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from backend.logs import TEXT_FORMAT

# An access token is a JWT: three base64url parts, the first two JSON objects ("eyJ" is `{"`).
JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")


class RunLog:
    """Write every record any logger hands to its handlers to `path`, formatted as `lindra serve`
    writes them: after the logger's own filters (the query strings cut off), before any handler."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._format = logging.Formatter(TEXT_FORMAT)

    def install(self) -> None:
        """Wrap `Logger.callHandlers`: the app's logging set-up (Litestar's dictConfig, on every app
        made) replaces the root logger's handlers, so a handler of ours would not stay."""
        call_handlers = logging.Logger.callHandlers
        keep = self._keep

        def kept_then_handled(logger: logging.Logger, record: logging.LogRecord) -> None:
            keep(record)
            call_handlers(logger, record)

        logging.Logger.callHandlers = kept_then_handled  # type: ignore[method-assign]

    def _keep(self, record: logging.LogRecord) -> None:
        try:
            self._file.write(self._format.format(record).replace("\n", "\n\t") + "\n")
            self._file.flush()
        except Exception:  # a record whose arguments do not format is the logging module's to report
            pass


# What a CPR number or a name looks like in a line: ten digits (a hyphen after the sixth allowed),
# and runs of capitalised words (every run of two or more of them is a candidate name).
CPR_LIKE = re.compile(r"(?<!\d)(\d{6})-?(\d{4})(?!\d)")
WORDS = re.compile(r"[A-ZÆØÅ][\w'-]*(?: [A-ZÆØÅ][\w'-]*)+")


@dataclass(frozen=True)
class Secrets:
    """What must never be logged: CPR numbers, citizens' names, and tokens of known value."""

    cprs: frozenset[str]
    names: frozenset[str]
    tokens: frozenset[str]


def _names_in(line: str) -> set[str]:
    found = set()
    for run in WORDS.findall(line):
        words = run.split(" ")
        for first in range(len(words)):
            for last in range(first + 2, len(words) + 1):
                found.add(" ".join(words[first:last]))
    return found


def scan(text: str, where: str, secrets: Secrets) -> list[str]:
    """Where `text` holds a secret, as "<kind> in <where>, line <n>" (never the secret itself).

    One pass over the lines: each line's CPR-like numbers and runs of names are looked up in the
    sets, so thousands of citizens cost no more than a few.
    """
    findings = set()
    for number, line in enumerate(text.splitlines(), 1):
        if any(a + b in secrets.cprs for a, b in CPR_LIKE.findall(line)):
            findings.add(f"a citizen's CPR number in {where}, line {number}")
        if ("eyJ" in line and JWT.search(line)) or any(token in line for token in secrets.tokens):
            findings.add(f"a token in {where}, line {number}")
        if _names_in(line) & secrets.names:
            findings.add(f"a citizen's name in {where}, line {number}")
    return sorted(findings, key=lambda finding: (finding.rsplit(" ", 1)[0], int(finding.rsplit(" ", 1)[1])))
