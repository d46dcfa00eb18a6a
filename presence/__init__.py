"""Presence: who is connected to which channel, kept in the broker's hashes and sets.

Layout: ``model`` (key names and pure transforms of the stored data) and
``tracker`` (``PresenceTracker``: atomic join/leave/disconnect/cleanup over a
``broker.backend.Backend``). The gateway wires it to websocket connections.
"""
