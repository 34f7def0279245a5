"""Structured logs: one JSON object per line, with whatever ``extra`` a call passes."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

CHATTY_MEDIA_LOGGERS = ("aioice", "aiortc")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str = "info", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("websockets", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # aioice logs every candidate pair and aiortc every transport change at INFO: a handful
    # of lines per connection that bury what an operator reads (the demo's sign-in links).
    # They speak again at --log-level debug.
    media = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    for chatty in CHATTY_MEDIA_LOGGERS:
        logging.getLogger(chatty).setLevel(media)
