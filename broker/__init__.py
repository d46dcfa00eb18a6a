"""fanout's broker: an in-memory, Redis-compatible pub/sub core and RESP server.

Layout: a sans-I/O core (``resp`` parser/encoder, ``glob`` matching,
``globinclusion`` (does one glob stay inside others), ``keyspace`` with expiry,
``pubsub`` registry with its ``patternindex``, ``notify`` flags, ``config``, the command
``table`` and ``commands/`` handlers, all driven by ``core.Broker.execute``), and
thin I/O shells around it: ``server`` (asyncio RESP server) and ``backends/``
(the ``backend.Backend`` interface the gateway uses, in-process or over RESP).

Imports run one way, without a cycle (tests/unit/test_imports.py): ``server`` and
``backends/`` import ``core``; ``core`` imports the parts it owns and
``commands.load()``, which imports every command module; a command module imports
``table`` (``@command``, to register), ``client`` (``Client``, the connection as the
core sees it, and its CLIENT LIST line), ``results`` (``Blocked``, ``BLOCKED``,
``NO_REPLY``, ``Replies``) and the parts it works on, never ``core``: it reaches
the broker through ``client.broker``. Streams: ``stream_id`` (ids) under
``stream_groups`` (consumer groups) under ``stream`` (entries, groups and lag).
"""
