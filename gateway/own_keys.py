"""The gateway's own keys in the broker, which ``maxmemory`` eviction must not take.

With the embedded broker, a memory limit applies to one keyspace shared by the
gateway and the services that use the broker as a cache. Evicting the gateway's
keys would make it lie: an evicted node heartbeat (``node:<id>``) looks like a
dead node, and the other nodes' cleanup would drop its live connections; an
evicted presence hash says nobody is in a channel; an evicted history stream
loses messages that reconnecting clients recover by offset; an evicted
idempotency key lets a retried publish through twice.

So the embedded broker never evicts them (``broker.evict.Evictor.exempt``), and
the gateway's own commands are never refused with ``-OOM`` (its in-process
client and its workers' private sockets: ``Client.oom_exempt``). They still count
in ``used_memory``: they are real memory, and the limit is the process's. Eviction
makes room from the services' keys; with ``noeviction``, or when the gateway's
keys alone fill ``maxmemory``, the services' writes get ``-OOM`` and the gateway
goes on. A real Redis used as the backplane (``--broker redis://``) knows nothing
of this: give the gateway a Redis of its own, or ``noeviction`` (README).
"""

from __future__ import annotations

__all__ = ["is_gateway_key"]

# presence/model.py's and broker/channel_keys.py's names, and the HTTP API's
# idempotency keys (gateway/http_api.py BROADCAST_KEY_PREFIX); tests/unit/test_own_keys.py
# checks them against those modules
_PREFIXES = (b"node:", b"conn:", b"presence:{", b"history:{", b"once:{", b"\x00broadcast:")


def is_gateway_key(key: bytes) -> bool:
    """True for a key the gateway keeps: heartbeats, connections, presence,
    history, idempotency keys (``user:<id>:conns`` included, not other ``user:`` keys)."""
    return key.startswith(_PREFIXES) or (key.startswith(b"user:") and key.endswith(b":conns"))
