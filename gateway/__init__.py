"""fanout gateway: websocket + HTTP API in front of the broker.

Layout: ``session`` (the websocket ops as a table, ``OPS``) over ``protocol``
(messages in and out) and ``errors`` (the codes); ``fanout`` (``Hub``: delivery)
and ``connection`` (one client's bounded output); ``wsserver`` (the HTTP port's
front door and the websocket protocol); ``node`` (joins and leaves, dropped
connections, reconnects, heartbeats, shutdown); ``watch``/``views`` (live views),
``history``, ``operations`` (publish); ``http_api`` and ``ops`` (HTTP), ``metrics``;
``app`` (the aiohttp app's wiring), ``serve`` and ``workers`` (the processes),
``cli``, ``options`` and ``settings`` (the command line and its settings);
``state`` (``GatewayState``). README "How fanout works" has a table by task.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

__all__ = ["version"]


def version() -> str:
    """The installed distribution's version, else pyproject.toml's (a source checkout)."""
    from importlib import metadata

    try:
        return metadata.version("fanout")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"
