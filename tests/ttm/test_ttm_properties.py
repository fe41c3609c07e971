"""Properties of the state machine and the log, over arbitrary command sequences."""

from __future__ import annotations

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tetra_repl.ttm import lifecycle, log, states
from tetra_repl.ttm.store import Store

STAGES = list(states.STAGES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(STAGES), max_size=8))
def test_only_legal_transitions_are_written_and_rebuild_matches(targets):
    with tempfile.TemporaryDirectory() as d:
        txn = Store(d).create("ttm", "prop")
        for dst in targets:
            before = txn.events_file.read_bytes()
            src = txn.state()["stage"]
            try:
                if dst == states.FAIL:
                    txn.record("txn_fail", {"reason": "x"})
                elif dst == states.DONE:
                    txn.record("txn_commit", {})
                else:
                    txn.record("stage_changed", to_stage=dst)
                assert states.allowed(src, dst), (src, dst)
            except states.IllegalTransition:
                assert not states.allowed(src, dst), (src, dst)
                assert txn.events_file.read_bytes() == before  # refused: nothing written
        assert lifecycle.verify(txn).ok
        assert log.render(log.replay(txn.events())) == txn.state_file.read_bytes()


def test_every_edge_of_the_state_machine():
    for src in STAGES:
        for dst in STAGES:
            expected = src not in states.TERMINAL and (
                dst == states.FAIL or states.FORWARD.get(src) == dst)
            assert states.allowed(src, dst) == expected, (src, dst)
