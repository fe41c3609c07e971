"""Names of the files tsm keeps in a process directory (shared, import-free)."""

LOCK_NAME = ".supervisor.lock"  # held by the live supervisor
EVENTS_NAME = ".supervisor.log"  # restarts, exits, adoption
FIFOS = (".stdout.fifo", ".stderr.fifo")  # the child's stdout/stderr
POLICIES = ("always", "on-failure", "no")
