"""Structured logs: one JSON object per line, the exception's type and never its message."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from backend.app import create_app
from backend.config import Settings
from backend.logs import JsonFormatter, configure_logging


def test_a_json_log_line_has_time_level_logger_and_message_and_only_the_exception_type() -> None:
    try:
        raise ValueError("Karen Testesen 010150-1234")  # what an exception message might hold
    except ValueError:
        record = logging.getLogger("lindra.test").makeRecord(
            "lindra.test", logging.ERROR, __file__, 1, "push sender: %s", ("ValueError",), sys.exc_info()
        )
    line = JsonFormatter().format(record)

    parsed = json.loads(line)
    assert parsed["level"] == "ERROR" and parsed["logger"] == "lindra.test"
    assert parsed["message"] == "push sender: ValueError" and parsed["exception"] == "ValueError"
    assert parsed["time"].endswith("+00:00")
    assert "Karen" not in line and "010150" not in line


def test_building_the_app_keeps_the_json_log_format(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("LINDRA_LOG_FORMAT", "json")
    root = logging.getLogger()
    kept_handlers, kept_level = root.handlers[:], root.level
    try:
        configure_logging()
        create_app(settings)
        assert [type(h.formatter) for h in root.handlers] == [JsonFormatter]
    finally:
        root.handlers[:], root.level = kept_handlers, kept_level
