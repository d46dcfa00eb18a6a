"""streams commands (to be filled in)."""
