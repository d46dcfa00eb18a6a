"""hashes commands (to be filled in)."""
