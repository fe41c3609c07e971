"""tetra: a shell for operating services."""
