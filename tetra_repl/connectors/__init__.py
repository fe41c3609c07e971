"""Connectors: one interface to run commands and move files, local or over SSH."""
