"""fanout gateway: websocket + HTTP API in front of the broker."""

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
