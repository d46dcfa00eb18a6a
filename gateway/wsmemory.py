"""Per-connection memory the ``websockets`` library keeps that a long-lived connection does not need."""

from __future__ import annotations

from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

__all__ = ["forget_handshake"]


def forget_handshake(protocol: ServerProtocol) -> None:
    """Drop the opening handshake's ``Request`` once the connection is open.

    The library's parser is one generator for the whole connection, and its frame
    holds the handshake's ``Request`` (headers and all, ~1.5 KB) until the
    connection ends. Restarting the frame parser (the generator the handshake's
    hands over to) lets it go. Only done when no byte of a frame has been read
    yet, so no parser state is lost (the usual case: a client waits for the 101).
    """
    if protocol.state is State.OPEN and not protocol.reader.buffer and protocol.parser_exc is None:
        protocol.parser = Protocol.parse(protocol)
        next(protocol.parser)
