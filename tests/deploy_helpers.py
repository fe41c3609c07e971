"""Helpers for the deploy tests: artifacts, reading a host's deploy_path."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path


def artifact(path: Path, version: str) -> Path:
    """A .tar.gz whose index.html says ``version`` (its directory made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = version.encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("index.html")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def current(deploy_path: Path) -> str | None:
    """The release ``current`` points at (None when absent)."""
    link = deploy_path / "current"
    if not os.path.islink(link):
        return None
    return Path(os.readlink(link)).name


def served(deploy_path: Path) -> str:
    return (deploy_path / "current" / "index.html").read_text()


def releases(deploy_path: Path) -> list[str]:
    d = deploy_path / "releases"
    return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.is_symlink()) \
        if d.is_dir() else []


def txn_state(state_dir: Path, txn_id: str) -> dict:
    [path] = list(state_dir.glob(f"*/txns/{txn_id}/state.json"))
    return json.loads(path.read_text())


def txn_events(state_dir: Path, txn_id: str) -> list[dict]:
    [path] = list(state_dir.glob(f"*/txns/{txn_id}/events.ndjson"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def deploy_ids(state_dir: Path) -> list[str]:
    d = state_dir / "deploy" / "txns"
    return sorted((p.name for p in d.iterdir() if p.is_dir() and not p.is_symlink()),
                  key=lambda n: (n.split("-")[-1] if "T" in n.split("-")[-1] else n)) if d.is_dir() else []
