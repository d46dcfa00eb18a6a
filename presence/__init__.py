"""Presence tracking over the broker."""
