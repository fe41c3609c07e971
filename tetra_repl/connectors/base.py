"""The connector interface every target kind implements (local, ssh).

A connector runs commands and moves files on one host.  Commands given as a
list are quoted word by word (``shlex.quote``) so each element arrives as
exactly one argument; a string is a shell script run with ``sh -c`` and is
only for text tetra composes itself from quoted parts.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import TetraError

OutputCallback = Callable[[str], None]  # called with each line of output (no newline)
ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class RunResult:
    """What one command on one host did."""

    host: str
    exit_status: int | None  # None when it never finished (timeout, lost connection, cancel)
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    error: str | None = None  # "timed out after 5s", "connection lost", "cancelled", ...

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_status == 0


class ConnectorError(TetraError):
    """A connection-level failure on one host (the message names the host)."""


class HostKeyError(ConnectorError):
    """Unknown or changed host key: never retried; the hint says how to trust it."""


class AuthError(ConnectorError):
    """Authentication failed: never retried."""


class ConnectError(ConnectorError):
    """Refused, reset or timed out while connecting (after retries)."""


class ConnectionLost(ConnectorError):
    """An established connection dropped, or the server stopped answering keepalives."""


class TransferError(ConnectorError):
    """A put/get failed: missing file, no such directory, checksum mismatch."""


class Cancelled(ConnectorError):
    """The work was cancelled (Ctrl-C) before it started on this host."""


class Connector(ABC):
    """One host.  Implementations: ``local.LocalConnector``, ``ssh.SSHConnector``."""

    host: str  # the host's name as the topology calls it

    @abstractmethod
    def run(self, command: Sequence[str] | str, *, timeout: float | None = None,
            on_stdout: OutputCallback | None = None, on_stderr: OutputCallback | None = None,
            cancel: threading.Event | None = None, capture: bool = True) -> RunResult:
        """Run ``command``; stream lines to the callbacks; end it (remotely too) on
        timeout or when ``cancel`` is set."""

    @abstractmethod
    def put(self, local_path: str, remote_path: str, *,
            progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None,
            expect_sha256: str | None = None) -> str:
        """Upload a file; verify it arrived intact; return its sha256 hex digest.
        Setting ``cancel`` stops it (raising Cancelled) and leaves no partial file.
        With ``expect_sha256`` the digest must also equal it (over SSH: computed
        by the host), else TransferError and the destination is not touched."""

    @abstractmethod
    def get(self, remote_path: str, local_path: str, *,
            progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None) -> str:
        """Download a file; verify it; return its sha256 hex digest."""

    def close(self) -> None:
        """Release connections (pooled connectors are closed by their pool)."""
