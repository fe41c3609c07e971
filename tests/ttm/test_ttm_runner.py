"""The runner of SPEC 6.5: lifecycle, blocking hand-off, per-target order,
concurrency across targets, nothing dropped, reloads through the hand-off."""

from __future__ import annotations

import threading

import pytest

from tetra_repl.ttm.runner import (BOOTING, NEW, PROCESSING, RUNNING, STOPPED, STOPPING, Runner,
                                   RunnerStopped, Work)


@pytest.fixture
def runner():
    r = Runner().start()
    yield r
    r.stop(cancel=True, timeout=10)


def test_lifecycle_goes_new_booting_running_processing_running_stopping_stopped():
    seen = []
    r = Runner(on_state=lambda old, new: seen.append(new))
    assert r.state == NEW
    r.start()
    assert r.state == RUNNING  # only once the loop accepts work
    w = r.submit(Work("@a", lambda cancel: 1))
    w.done.wait(10)
    assert r.stop(timeout=10)
    assert r.history[:3] == [NEW, BOOTING, RUNNING]
    assert PROCESSING in r.history
    assert r.history[-2:] == [STOPPING, STOPPED]
    assert seen == r.history[1:]
    with pytest.raises(RunnerStopped):
        r.submit(Work("@a", lambda cancel: 1))


def test_submit_returns_only_once_the_runner_has_taken_the_work(runner):
    gate = threading.Event()
    w = runner.submit(Work("@a", lambda cancel: gate.wait(10)))
    assert w.taken.is_set()
    assert not w.done.is_set()
    gate.set()
    assert w.done.wait(10)


def test_order_is_kept_per_target_and_nothing_is_dropped(runner):
    log: dict[str, list[int]] = {"@a": [], "@b": [], "@c": []}
    items = []

    def submitter(key):
        for i in range(100):
            items.append(runner.submit(Work(key, lambda cancel, k=key, i=i: log[k].append(i))))

    threads = [threading.Thread(target=submitter, args=(k,)) for k in log]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in items:
        assert w.done.wait(10)
    assert len(items) == 300
    for key, seen in log.items():
        assert seen == list(range(100)), key


def test_different_targets_run_concurrently_and_one_target_does_not(runner):
    both = threading.Barrier(2, timeout=10)
    a = runner.submit(Work("@a", lambda cancel: both.wait()))
    b = runner.submit(Work("@b", lambda cancel: both.wait()))
    assert a.done.wait(15) and b.done.wait(15)
    assert a.error is None and b.error is None  # a barrier of 2 needs them side by side

    active, peak = [0], [0]
    lock = threading.Lock()

    def one(cancel):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.01)
        with lock:
            active[0] -= 1

    items = [runner.submit(Work("@same", one)) for _ in range(10)]
    for w in items:
        assert w.done.wait(10)
    assert peak[0] == 1


def test_a_failing_item_does_not_stop_its_lane(runner):
    def boom(cancel):
        raise RuntimeError("boom")

    bad = runner.submit(Work("@a", boom))
    good = runner.submit(Work("@a", lambda cancel: "ok"))
    assert good.done.wait(10)
    assert isinstance(bad.error, RuntimeError) and good.result == "ok"


def test_a_topology_reload_applies_to_work_submitted_after_it_only(runner):
    gate = threading.Event()
    before = runner.submit(Work("@a", lambda cancel: gate.wait(10)))
    reload = runner.reload("topology.toml")
    after = runner.submit(Work("@a", lambda cancel: None))
    gate.set()
    assert after.done.wait(10)
    assert (before.generation, reload.generation, after.generation) == (0, 1, 1)


def test_stop_with_cancel_signals_running_work(runner):
    started = threading.Event()

    def long(cancel):
        started.set()
        return "cancelled" if cancel.wait(10) else "finished"

    w = runner.submit(Work("@a", long))
    started.wait(10)
    assert runner.stop(cancel=True, timeout=10)
    assert w.result == "cancelled"
    assert runner.state == STOPPED


def test_a_changed_topology_file_is_delivered_through_the_hand_off(tmp_path):
    import io

    from tetra_repl.env import Environment
    from tetra_repl.session import Session
    from tetra_repl.ttm import runner as runner_mod

    topo = tmp_path / "topology.toml"
    topo.write_text('[targets.a]\nhosts = ["a-1"]\n')
    session = Session(Environment(stdout=io.StringIO(), stderr=io.StringIO(), state_dir=tmp_path,
                                  topology_file=topo))
    reloads = []
    session.bus.subscribe("topology.reloaded", lambda topic, p: reloads.append(p))
    try:
        first = runner_mod.submit(session, Work("@a", lambda cancel: None))
        first.done.wait(10)
        assert reloads == []  # nothing changed since the runner started
        topo.write_text('[targets.a]\nhosts = ["a-1", "a-2"]\n')
        os_stat = topo.stat()
        import os
        os.utime(topo, ns=(os_stat.st_atime_ns, os_stat.st_mtime_ns + 10_000_000))
        second = runner_mod.submit(session, Work("@a", lambda cancel: None))
        second.done.wait(10)
        assert reloads == [{"path": str(topo)}]
        assert (first.generation, second.generation) == (0, 1)
    finally:
        session.close()


# -- foreground work: run_here --------------------------------------------------

def test_foreground_work_waits_for_earlier_work_on_its_target_and_runs_in_the_caller(runner):
    log, gate = [], threading.Event()
    runner.submit(Work("@a", lambda cancel: (gate.wait(10), log.append("background"))))
    waited = []
    threading.Timer(0.3, gate.set).start()
    result = runner.run_here(Work("@a", lambda cancel: (log.append("foreground"),
                                                        threading.get_ident())[1]),
                             on_wait=lambda w: waited.append(w.behind))
    assert log == ["background", "foreground"]
    assert result == threading.get_ident()  # ran on this thread
    assert waited == [1]


def test_work_submitted_after_foreground_work_waits_for_it_to_end(runner):
    log = []
    later = []

    def foreground(cancel):
        log.append("fg start")
        later.append(runner.submit(Work("@a", lambda cancel: log.append("after"))))
        threading.Event().wait(1.0)  # several of the lane's polls
        log.append("fg end")
        return 7

    assert runner.run_here(Work("@a", foreground)) == 7
    assert later[0].done.wait(10)
    assert log == ["fg start", "fg end", "after"]


def test_foreground_work_on_another_target_does_not_wait(runner):
    gate = threading.Event()
    busy = runner.submit(Work("@a", lambda cancel: gate.wait(10)))
    try:
        assert runner.run_here(Work("@b", lambda cancel: "b"),
                               on_wait=lambda w: pytest.fail("waited")) == "b"
        assert not busy.done.is_set()
    finally:
        gate.set()


def test_foreground_errors_reach_the_caller_and_the_lane_goes_on(runner):
    def boom(cancel):
        raise KeyboardInterrupt

    work = Work("@a", boom)
    with pytest.raises(KeyboardInterrupt):
        runner.run_here(work)
    assert work.cancel.is_set() and work.done.is_set()
    assert runner.submit(Work("@a", lambda cancel: "next")).done.wait(10)


def test_interrupted_while_waiting_for_its_turn_the_work_never_runs(runner):
    gate, ran = threading.Event(), []
    runner.submit(Work("@a", lambda cancel: gate.wait(10)))

    def give_up(work):
        raise KeyboardInterrupt  # Ctrl-C while queued

    work = Work("@a", lambda cancel: ran.append(1))
    with pytest.raises(KeyboardInterrupt):
        runner.run_here(work, on_wait=give_up)
    gate.set()
    after = runner.submit(Work("@a", lambda cancel: "after"))
    assert after.done.wait(10) and after.result == "after"
    assert ran == [] and work.cancel.is_set()


def test_a_lane_does_not_stick_if_the_caller_leaves_without_releasing_it(runner):
    class Lost(threading.Event):
        cut = False

        def set(self):  # a second Ctrl-C cuts the caller's clean-up short, once
            if not Lost.cut:
                Lost.cut = True
                raise KeyboardInterrupt
            super().set()

    work = Work("@a", lambda cancel: "fg")
    work.done = Lost()
    with pytest.raises(KeyboardInterrupt):
        runner.run_here(work)
    after = runner.submit(Work("@a", lambda cancel: "after"))
    assert after.done.wait(10) and after.result == "after"


def test_foreground_work_nested_in_work_of_its_own_lane_runs_at_once(runner):
    inner = runner.submit(Work("@a", lambda cancel: runner.run_here(Work("@a", lambda c: "in"))))
    assert inner.done.wait(10) and inner.result == "in"
    assert runner.run_here(Work("@a", lambda cancel: runner.run_here(
        Work("@a", lambda c: "nested")))) == "nested"
