"""The core bench's corpus stays what it claims: >= 200 distinct lines that all parse."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tetra_repl.language import Symbol, parse

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_core.py"


def test_corpus_is_large_distinct_mixed_and_parses():
    spec = importlib.util.spec_from_file_location("bench_core", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = module.corpus()
    assert len(lines) >= 200 and len(set(lines)) == len(lines)
    statements = [s for line in lines for s in parse(line)]
    names = {s.command_name for s in statements}
    assert {"deploy", "tsm", "txn", "set", "put", "exec"} <= names
    assert any(isinstance(s.args[0], Symbol) for s in statements)  # @target CMD…
    assert any(s.background for s in statements) and any(s.passthrough for s in statements)
    assert any("#" in line for line in lines) and any("$" in line for line in lines)
