"""Backend implementations: ``memory`` (in-process broker); RESP comes with scale-out."""

from __future__ import annotations

from typing import Any

from broker.backend import Backend

__all__ = ["create_backend"]


def create_backend(url: str, broker: Any = None) -> Backend:
    """Pick a backend by URL: ``memory://`` uses the given in-process ``broker``."""
    if url.startswith("memory://") or url == "memory":
        from broker.backends.memory import MemoryBackend
        from broker.core import Broker

        return MemoryBackend(broker if broker is not None else Broker())
    raise ValueError(f"unsupported broker URL {url!r}: use memory:// (redis:// comes with scale-out)")
