"""Structured logs: one JSON object per line, for requests and for everything else."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"ts", "level", "logger", "msg", ...extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


#: Libraries whose INFO lines are chatter for us ("Added job …", every ICE check): they
#: log at WARNING and above unless the level asked for is DEBUG.
CHATTY_LIBRARIES = ("apscheduler", "aioice", "aiortc", "alembic")


def configure_logging(level: str) -> None:
    """Send every log to stderr as JSON lines at ``level`` (libraries: see above)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = level if level == "DEBUG" else max(logging.getLevelName(level), logging.WARNING)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)


class JsonAccessLogger(AbstractAccessLogger):
    """One line per request: method, path, status, bytes, duration, client."""

    @property
    def enabled(self) -> bool:
        # aiohttp asks once per connection; at WARNING and above no line is built at all.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status,
                    "bytes": response.body_length,
                    "duration_ms": round(time * 1000, 2),
                    "remote": request.remote,
                }
            },
        )
