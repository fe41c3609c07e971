"""Helpers for the TTM tests: reading a transaction's files as a user would."""

from __future__ import annotations

import json
from pathlib import Path


def txn_dir(state_dir: Path, txn_id: str) -> Path:
    found = list(state_dir.glob(f"*/txns/{txn_id}"))
    assert len(found) == 1, found
    return found[0]


def events(state_dir: Path, txn_id: str) -> list[dict]:
    lines = (txn_dir(state_dir, txn_id) / "events.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines]


def state(state_dir: Path, txn_id: str) -> dict:
    return json.loads((txn_dir(state_dir, txn_id) / "state.json").read_text())


def all_ids(state_dir: Path) -> list[str]:
    return sorted(p.name for p in state_dir.glob("*/txns/*") if p.is_dir() and not p.is_symlink())
