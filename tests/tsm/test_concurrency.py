"""Ids and names under the exclusive lock: 50 `tsm start` processes at once."""

from __future__ import annotations

import json
import subprocess

from tsm_helpers import TETRA, wait_for


def test_fifty_concurrent_starts_get_fifty_ids_dirs_and_metas(tsm, tetra_env, tmp_path):
    work = tmp_path / "jobs"
    work.mkdir()
    procs = [subprocess.Popen([TETRA, "tsm", "start", "--json", "--", "sleep", "120"], cwd=work,
                              env=tetra_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for _ in range(50)]
    outputs = [p.communicate(timeout=120) for p in procs]
    failed = [(p.returncode, err) for p, (_, err) in zip(procs, outputs) if p.returncode != 0]
    assert not failed, failed[:3]

    started = [json.loads(out) for out, _ in outputs]
    assert sorted(m["tsm_id"] for m in started) == list(range(50))
    names = {m["name"] for m in started}
    assert len(names) == 50 and "jobs-sleep" in names and "jobs-sleep-50" in names
    dirs = [d for d in tsm.processes.iterdir() if d.is_dir()]
    assert len(dirs) == 50
    metas = [json.loads((d / "meta.json").read_text()) for d in dirs]
    assert sorted(m["tsm_id"] for m in metas) == list(range(50))
    assert all(m["status"] == "online" and m["pid"] for m in metas)
    assert len({m["pid"] for m in metas}) == 50

    tsm("stop", "all")
    wait_for(lambda: all(r["status"] == "stopped" for r in tsm.ls().values()))
