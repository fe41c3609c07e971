"""Helpers for the remote tests: topology files pointing at the loopback sshd.
(No conftest.py in this directory: one conftest module per run.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil


def toml_value(value) -> str:
    return json.dumps(value)  # JSON strings, numbers and lists are valid TOML


def host_table(name: str, server, **settings) -> str:
    fields = {"name": name, "host": server.host, "port": server.port, **settings}
    return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in fields.items()) + " }"


class SSHWorld:
    """A state dir with a known_hosts trusting ``sshd`` and a topology builder."""

    def __init__(self, tetra_dir: Path, home: Path, sshd, keys):
        self.dir = tetra_dir
        self.home = home
        self.sshd = sshd
        self.keys = keys
        self.known_hosts = home / "known_hosts"
        self.known_hosts.touch()
        self.topology = tetra_dir / "topology.toml"

    def trust(self, server) -> None:
        server.write_known_hosts(self.known_hosts)

    def write(self, targets: dict[str, list[str]], defaults: dict | None = None,
              target_settings: dict[str, dict] | None = None, aliases: dict | None = None) -> Path:
        d = {"user": self.sshd.user, "identity_file": str(self.keys.private),
             "known_hosts": str(self.known_hosts), "connect_retries": 1, **(defaults or {})}
        lines = ["[defaults]"] + [f"{k} = {toml_value(v)}" for k, v in d.items()]
        if aliases:
            lines += ["", "[aliases]"] + [f"{k} = {toml_value(v)}" for k, v in aliases.items()]
        for name, hosts in targets.items():
            lines += ["", f"[targets.{name}]", "hosts = [", *[f"  {h}," for h in hosts], "]"]
            for k, v in (target_settings or {}).get(name, {}).items():
                lines.append(f"{k} = {toml_value(v)}")
        self.topology.write_text("\n".join(lines) + "\n")
        return self.topology


def start_tetra(tetra_env, script: str) -> subprocess.Popen:
    """``tetra -c SCRIPT`` running in the background, output piped."""
    tetra = str(Path(sys.executable).with_name("tetra"))
    return subprocess.Popen([tetra, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=tetra_env)


def alive_with(marker: str) -> list:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if (p.info["status"] != psutil.STATUS_ZOMBIE
                    and marker in " ".join(p.info["cmdline"] or ())):
                found.append(p)
        except psutil.Error:
            pass
    return found
