"""The Environment: streams, state directory and settings of one tetra process.

Everything that varies between a test and a real run lives here, so tests
swap streams and directories without monkeypatching (as httpie's context).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


def default_state_dir() -> Path:
    return Path(os.environ.get("TETRA_DIR") or Path.home() / ".tetra")


@dataclass
class Environment:
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    state_dir: Path = field(default_factory=default_state_dir)
    topology_file: Path | None = None  # --topology or $TETRA_TOPOLOGY; else found in state_dir
    ssh_config_file: Path | None = None  # --ssh-config or $TETRA_SSH_CONFIG; else ~/.ssh/config
    json: bool = False
    color: bool = True
    debug: bool = False
    interactive: bool = False
    keep_going: bool = False

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).expanduser()
        # --topology / --ssh-config arrive as text from the command line
        if self.topology_file is not None:
            self.topology_file = Path(self.topology_file).expanduser()
        if self.ssh_config_file is not None:
            self.ssh_config_file = Path(self.ssh_config_file).expanduser()
        if self.topology_file is None and os.environ.get("TETRA_TOPOLOGY"):
            self.topology_file = Path(os.environ["TETRA_TOPOLOGY"])
        if self.ssh_config_file is None:
            if os.environ.get("TETRA_SSH_CONFIG"):
                self.ssh_config_file = Path(os.environ["TETRA_SSH_CONFIG"])
            elif (Path.home() / ".ssh" / "config").is_file():
                self.ssh_config_file = Path.home() / ".ssh" / "config"

    def find_topology(self) -> Path | None:
        """The topology file in force: explicit, else DIR/topology.toml or .json."""
        if self.topology_file is not None:
            return self.topology_file
        for name in ("topology.toml", "topology.json"):
            candidate = self.state_dir / name
            if candidate.is_file():
                return candidate
        return None

    def path(self, *parts: str) -> Path:
        """A path under the state directory (not created)."""
        return self.state_dir.joinpath(*parts)
