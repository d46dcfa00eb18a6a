"""lists commands (to be filled in)."""
