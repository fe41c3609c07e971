"""Transaction ids are unique across modules (SPEC 6.1): ``txn show ID`` and
``Store.open`` find one transaction, whichever module made it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from ttm_helpers import all_ids


def test_an_id_taken_in_another_module_is_skipped(tetra, tetra_dir):
    """``txn new "deploy local"`` and a deploy in the same second both want
    ``deploy-local-<stamp>``: whichever comes second takes ``-2``."""
    now = time.time()
    taken = [time.strftime("%Y%m%dT%H%M%S", time.gmtime(now + s)) for s in range(-1, 30)]
    for stamp in taken:
        (tetra_dir / "deploy" / "txns" / f"deploy-local-{stamp}").mkdir(parents=True)
    r = tetra("-c", 'txn new "deploy local" @local')
    assert r.returncode == 0, r.stderr
    txn_id = r.stdout.strip()
    assert txn_id in {f"deploy-local-{stamp}-2" for stamp in taken}
    assert (tetra_dir / "ttm" / "txns" / txn_id).is_dir()
    assert not (tetra_dir / "ttm" / "txns" / txn_id.removesuffix("-2")).exists()
    assert json.loads(tetra("txn", "show", txn_id, "--json").stdout)["module"] == "ttm"


def test_creations_racing_in_two_modules_never_share_an_id(tetra_env, tetra_dir):
    script = textwrap.dedent("""
        import sys
        from tetra_repl.ttm.store import Store
        store = Store(sys.argv[1])
        sys.stdin.readline()  # both start together
        for _ in range(40):
            print(store.create(sys.argv[2], "race").id)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tetra_dir), module],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=tetra_env) for module in ("ttm", "deploy")]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    ids = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert len(ids[0]) == len(ids[1]) == 40
    assert not set(ids[0]) & set(ids[1])
    on_disk = all_ids(tetra_dir)
    assert len(on_disk) == len(set(on_disk)) == 80
