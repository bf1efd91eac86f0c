"""Structured, quiet-by-default logging.

Library code logs through ``get_logger(__name__)``; nothing is printed unless the CLI (or the user)
calls :func:`setup_logging`. ``REIDKIT_LOG=debug|info|warning`` sets the level, ``REIDKIT_LOG_JSON=1``
switches to one JSON object per line for machines.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "t": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        return json.dumps(data, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = getattr(record, "fields", None)
        tail = "".join(f" {k}={v}" for k, v in extra.items()) if isinstance(extra, dict) else ""
        return f"{stamp} {record.levelname.lower():7s} {record.name}: {record.getMessage()}{tail}"


def setup_logging(level: str | None = None, json_lines: bool | None = None) -> None:
    level = (level or os.environ.get("REIDKIT_LOG") or "warning").upper()
    if json_lines is None:
        json_lines = os.environ.get("REIDKIT_LOG_JSON", "") not in ("", "0")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_lines else _TextFormatter())
    root = logging.getLogger("reidkit")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def log_fields(logger: logging.Logger, level: int, msg: str, **fields: object) -> None:
    """Log ``msg`` with key=value fields (rendered as JSON keys in JSON mode)."""
    logger.log(level, msg, extra={"fields": fields})
