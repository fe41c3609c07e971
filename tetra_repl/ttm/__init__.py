"""The transaction manager (TTM): store, state machine, leases, runner."""
