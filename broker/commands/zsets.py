"""zsets commands (to be filled in)."""
