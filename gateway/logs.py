"""Log set-up: readable text lines, or one JSON object per line for log shippers.

Start-up facts (addresses, broker, auth mode) go through ``fact``: printed on
stdout whatever ``--log-level`` says (as redis-server prints its banner), as plain
text or, with ``--log-format json``, as a JSON object like every other record.
Everything else is the ``logging`` module on stderr, under ``fanout.*`` loggers:
``info`` the lifecycle (nodes, backplane, slow consumers, workers), ``debug``
connections, subscriptions and HTTP requests.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

__all__ = ["configure", "fact", "JsonFormatter"]

_format = "text"

# Record attributes that are not extra fields given with ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """``{"time": ..., "level": "info", "logger": ..., "message": ..., <extra fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {"time": _timestamp(record.created), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


def configure(level: str = "info", log_format: str = "text") -> None:
    """Install the one handler (stderr) in the chosen format.

    Args:
        level: debug, info, warning or error.
        log_format: "text" or "json".
    """
    global _format
    _format = log_format
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's own access log would repeat our debug line per request.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def fact(message: str, **fields: Any) -> None:
    """A start-up or shutdown fact, on stdout at any log level.

    Args:
        message: the readable line, e.g. "fanout serve: HTTP on http://127.0.0.1:8080".
        fields: machine-readable parts of it, for the JSON format.
    """
    if _format == "json":
        body = {"time": _timestamp(time.time()), "level": "info", "logger": "fanout", "message": message,
                **fields}
        line = orjson.dumps(body, default=str).decode()
    else:
        line = message
    print(line, flush=True)
