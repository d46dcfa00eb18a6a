"""Command handlers, one module per Redis command group.

Layout: ``connection`` (PING, HELLO, AUTH, CLIENT ...), ``server`` (INFO, CONFIG,
COMMAND, FLUSHDB ...), ``transactions`` (MULTI/EXEC/WATCH), ``pubsub``, ``keys``
(generic key commands and TTLs), ``strings``, ``hashes``, ``sets``, ``zsets``,
``lists``, ``streams``, ``memory`` (MEMORY USAGE ...). Each handler is registered in ``broker.table`` by the
``@command`` decorator and takes ``(client, argv)``; shared argument parsing is in
``args``.
"""
