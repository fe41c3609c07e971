"""The interactive shell (prompt_toolkit): the only package importing prompt_toolkit."""
