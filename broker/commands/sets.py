"""sets commands (to be filled in)."""
