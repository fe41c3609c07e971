"""Background deploys in a session: the two-step Ctrl-D (ask, then cancel) and
the shell hooks (completion of ids, $txn/$eN, toolbar, prompt)."""

from __future__ import annotations

import io
import json

from deploy_helpers import artifact, current, served
from tetra_testing import wait_for

from tetra_repl.env import Environment
from tetra_repl.session import Session


def session_in(state_dir):
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), state_dir=state_dir)
    s = Session(env)
    s.load_plugins()
    return s


def test_second_ctrl_d_cancels_a_background_deploy_which_rolls_back(tetra_dir, tmp_path):
    session = session_in(tetra_dir)
    try:
        dp = tetra_dir / "deploy" / "hosts" / "local"
        assert session.run_source(f"deploy @local {artifact(tmp_path / '1.tar.gz', 'v1')}",
                                  script=True) == 0
        good = current(dp)
        status = session.run_source(
            f"deploy @local {artifact(tmp_path / '2.tar.gz', 'v2')} --check 'sleep 60' &", script=True)
        assert status == 0  # returned at once
        def second():
            found = [p for p in (tetra_dir / "deploy/txns").glob("deploy-local-*/state.json")
                     if p.parent.name != good]
            return json.loads(found[0].read_text()) if found else None

        wait_for(lambda: second() and "validate:local" in second()["open_steps"], timeout=30)
        assert served(dp) == "v2"
        assert session.jobs.request_exit() == "confirm"  # first Ctrl-D asks
        assert session.jobs.running()
        assert session.jobs.request_exit() == "cancelled"  # second cancels and waits
        s = second()
        assert s["stage"] == "FAIL" and s["error"] == "cancelled"
        assert current(dp) == good and served(dp) == "v1"
        assert session.jobs.list()[-1].status == "cancelled"
    finally:
        session.close()


def test_shell_hooks_complete_ids_expand_variables_and_show_the_active_txn(tetra_dir, tmp_path):
    session = session_in(tetra_dir)
    try:
        art = artifact(tmp_path / "a.tar.gz", "v1")
        assert session.run_source(f'txn new "hooks" @local; txn ctx {art}', script=True) == 0
        txn_id = session.lookup("txn")
        assert txn_id.startswith("hooks-")
        assert session.lookup("e1").endswith("/ctx/100_a.tar.gz")
        complete = session.registry.completers["txn.id"]
        assert complete(session, "hoo") == [txn_id]
        toolbar = [p(session) for p in session.registry.toolbar_providers]
        assert f"txn {txn_id} SELECT" in toolbar
        assert "@local" in [p(session) for p in session.registry.prompt_providers]
    finally:
        session.close()
