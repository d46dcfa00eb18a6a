"""fanout's broker: an in-memory, Redis-compatible pub/sub core and RESP server.

Layout: a sans-I/O core (``resp`` parser/encoder, ``glob`` matching,
``globinclusion`` (does one glob stay inside others), ``keyspace`` with expiry,
``pubsub`` registry with its ``patternindex``, ``notify`` flags, ``config``, the command
``table`` and ``commands/`` handlers, all driven by ``core.Broker.execute``), and
thin I/O shells around it: ``server`` (asyncio RESP server) and ``backends/``
(the ``backend.Backend`` interface the gateway uses, in-process or over RESP).
"""
