"""`make bench`: every bench/bench_*.py module's run(report) in one process run.

Each module measures its subject side by side with its baseline in the same
run and reports figures and ratios through ``report(name, value, unit,
target=None)``.  Nothing here is part of `make test`.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).parent


def report(name: str, value: float, unit: str = "", target: str | None = None) -> None:
    line = f"  {name:<58} {value:>12.3f} {unit}"
    if target:
        line += f"   (target {target})"
    print(line, flush=True)


def main(only: list[str]) -> int:
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        if only and not any(o in path.stem for o in only):
            continue
        print(f"{path.stem}:", flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        started = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            module.run(report)
        except Exception:
            failed += 1
            traceback.print_exc()
        print(f"  ({time.perf_counter() - started:.1f}s)\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "tests"))
    sys.exit(main(sys.argv[1:]))
