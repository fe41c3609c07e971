"""deploy / rollback / releases on @local (no topology): SPEC 7 end to end
through the real CLI, real files and real processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

from tetra_testing import TETRA, kill_tree
from deploy_helpers import artifact, current, releases, served, txn_events, txn_state


def dp(tetra_dir):
    return tetra_dir / "deploy" / "hosts" / "local"


def newest(tetra, module="deploy") -> dict:
    return json.loads(tetra("txn", "ls", "--module", module, "--json").stdout)[0]


def test_deploy_on_local_switches_current_and_records_evidence(tetra, tetra_dir, tmp_path):
    art = artifact(tmp_path / "api-v1.tar.gz", "v1")
    r = tetra("deploy", "@local", str(art), "--check", "grep -q v1 index.html")
    assert r.returncode == 0, r.stderr
    txn_id = newest(tetra)["id"]
    assert txn_id.startswith("deploy-local-")
    assert f"plan {txn_id}: @local → 1 host(s)" in r.stdout
    size = art.stat().st_size  # a small artifact: its size in bytes, not "0.0 MB"
    assert re.search(rf"upload 100%  {size} B/{size} B  [\d.]+ (B|kB|MB|GB)/s  ETA 0s", r.stdout), r.stdout
    assert current(dp(tetra_dir)) == txn_id and served(dp(tetra_dir)) == "v1"
    assert (dp(tetra_dir) / "releases" / f"{txn_id}.tar.gz").is_file()
    s = txn_state(tetra_dir, txn_id)
    assert s["stage"] == "DONE" and s["module"] == "deploy"
    import hashlib
    assert s["evidence"][0]["sha256"] == hashlib.sha256(art.read_bytes()).hexdigest()
    assert s["evidence"][0]["kind"] == "artifact"
    for step in ("prepare", "upload", "verify", "extract", "switch", "validate", "prune"):
        assert f"{step}:local" in s["steps"], step
    assert s["steps"]["verify:local"]["sha256"] == s["evidence"][0]["sha256"]
    assert not (tetra_dir / "locks" / "local.lock").exists()
    assert tetra("txn", "verify", txn_id).returncode == 0
    r = tetra("releases", "@local", "--json")
    assert json.loads(r.stdout)["local"] == {"deploy_path": str(dp(tetra_dir)), "current": txn_id,
                                             "releases": [txn_id], "rolled_back": []}


def test_dry_run_prints_every_remote_command_and_changes_nothing(tetra, tetra_dir, tmp_path):
    art = artifact(tmp_path / "a.tar.gz", "v1")
    r = tetra("deploy", "@local", str(art), "--dry-run", "--check", "true")
    assert r.returncode == 0, r.stderr
    for needle in ("mkdir -p --", "put ", "sha256sum --", "tar -xzf", "ln -sfn releases/",
                   "mv -Tf", "cd "):
        assert needle in r.stdout, needle
    assert not dp(tetra_dir).exists()
    s = txn_state(tetra_dir, newest(tetra)["id"])
    assert s["stage"] == "FAIL" and "dry run" in s["error"]
    assert "exec_started" not in {e["type"] for e in txn_events(tetra_dir, s["id"])}


def test_rollback_restores_the_previous_release_as_its_own_transaction(tetra, tetra_dir, tmp_path):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    first = current(dp(tetra_dir))
    assert tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2"))).returncode == 0
    assert served(dp(tetra_dir)) == "v2"
    r = tetra("rollback", "@local")
    assert r.returncode == 0, r.stderr
    assert current(dp(tetra_dir)) == first and served(dp(tetra_dir)) == "v1"
    assert f"rolled back 1 host(s) to {first}: local" in r.stdout
    row = newest(tetra)
    assert row["id"].startswith("rollback-local-") and row["stage"] == "DONE"
    r = tetra("rollback", "@local", "--to", "no-such-release")
    assert r.returncode == 1 and "no-such-release is not on the host" in r.stderr
    assert current(dp(tetra_dir)) == first


def test_a_failing_check_rolls_back_and_says_which_host_and_step(tetra, tetra_dir, tmp_path):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = current(dp(tetra_dir))
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")), "--check", "false")
    assert r.returncode == 1
    line = next(l for l in r.stderr.splitlines() if "FAIL" in l)
    assert "host local failed at validate" in line and f"rolled back local (to {good})" in line
    assert current(dp(tetra_dir)) == good and served(dp(tetra_dir)) == "v1"
    s = txn_state(tetra_dir, newest(tetra)["id"])
    assert s["stage"] == "FAIL" and s["rollback"]["restored"] == {"local": good}
    assert "Traceback" not in r.stderr


def test_a_missing_artifact_fails_clearly_and_starts_nothing(tetra, tetra_dir, tmp_path):
    r = tetra("deploy", "@local", str(tmp_path / "nope.tar.gz"))
    assert r.returncode == 1
    assert "artifact not found" in r.stderr and "Traceback" not in r.stderr
    assert not (tetra_dir / "deploy").exists()


def test_a_lock_held_by_another_transaction_fails_the_deploy_cleanly(tetra, tetra_env, tetra_dir, tmp_path):
    holder = subprocess.Popen([TETRA, "-c", 'txn new "maintenance" @local; txn resolve; '
                               'txn exec -- sleep 60'], env=tetra_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (tetra_dir / "locks" / "local.lock").exists():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        r = tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1")))
    finally:
        kill_tree(holder.pid)
        holder.wait()
    assert r.returncode == 1
    assert "@local is locked by maintenance-" in r.stderr
    s = txn_state(tetra_dir, newest(tetra)["id"])
    assert s["stage"] == "FAIL" and "locked" in s["error"]
    assert not dp(tetra_dir).exists()


def test_keep_prunes_old_releases_but_never_current(tetra, tetra_dir, tmp_path):
    for n in range(4):
        r = tetra("deploy", "@local", str(artifact(tmp_path / f"{n}.tar.gz", f"v{n}")), "--keep", "2")
        assert r.returncode == 0, r.stderr
    kept = releases(dp(tetra_dir))
    assert len(kept) == 2
    assert current(dp(tetra_dir)) in kept and served(dp(tetra_dir)) == "v3"
    assert len(list((dp(tetra_dir) / "releases").glob("*.tar.gz"))) == 2


def test_background_deploys_on_one_target_run_in_order_through_the_runner(tetra, tetra_dir, tmp_path):
    a = artifact(tmp_path / "a.tar.gz", "A")
    b = artifact(tmp_path / "b.tar.gz", "B")
    r = tetra("-c", f"deploy @local {a} &\ndeploy @local {b} &\njobs\nwait")
    assert r.returncode == 0, r.stderr
    assert "[1] started" in r.stderr and "[2] started" in r.stderr
    rows = json.loads(tetra("txn", "ls", "--module", "deploy", "--json").stdout)
    assert [row["stage"] for row in rows] == ["DONE", "DONE"]  # serialised: no lock clash
    assert served(dp(tetra_dir)) == "B"  # submission order kept


def test_a_crash_during_the_current_switch_is_resumed_to_done(tetra, tetra_dir, tmp_path):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")),
              env={"TETRA_CRASH_AT": "deploy.switch.mid"})
    assert r.returncode == 137
    row = newest(tetra)
    assert row["display_stage"] == "interrupted"
    assert tetra("txn", "verify", row["id"]).returncode == 0
    assert served(dp(tetra_dir)) == "v1"  # the rename never happened
    uploads = sum(1 for e in txn_events(tetra_dir, row["id"])
                  if e["type"] == "exec_started" and e["data"]["step"] == "upload")
    r = tetra("txn", "resume", row["id"])
    assert r.returncode == 0, r.stderr
    assert served(dp(tetra_dir)) == "v2"
    assert txn_state(tetra_dir, row["id"])["stage"] == "DONE"
    after = sum(1 for e in txn_events(tetra_dir, row["id"])
                if e["type"] == "exec_started" and e["data"]["step"] == "upload")
    assert after == uploads == 1  # the completed upload was not redone


def test_txn_resume_wait_waits_for_a_host_another_transaction_holds(tetra, tetra_env, tetra_dir,
                                                                   tmp_path):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")),
              env={"TETRA_CRASH_AT": "deploy.switch.mid"})
    assert r.returncode == 137
    crashed = newest(tetra)["id"]
    holder = subprocess.Popen([TETRA, "-c", 'txn new "maintenance" @local; txn resolve; '
                               "txn exec -- sleep 2; txn commit"], env=tetra_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        lock = tetra_dir / "locks" / "local.lock"
        deadline = time.monotonic() + 30
        while "maintenance-" not in (lock.read_text() if lock.exists() else ""):
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        r = tetra("txn", "resume", crashed, "--wait=60")
    finally:
        kill_tree(holder.pid)
        holder.wait()
    assert r.returncode == 0, r.stderr
    assert txn_state(tetra_dir, crashed)["stage"] == "DONE" and served(dp(tetra_dir)) == "v2"


def test_a_crashed_deploy_ended_with_txn_fail_is_switched_back(tetra, tetra_dir, tmp_path):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = current(dp(tetra_dir))
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")), "--check", "true",
              env={"TETRA_CRASH_AT": "deploy.validate"})
    assert r.returncode == 137
    row = newest(tetra)
    assert served(dp(tetra_dir)) == "v2"  # it died after switching
    r = tetra("txn", "fail", row["id"], "operator gave up")
    assert r.returncode == 0, r.stderr
    assert current(dp(tetra_dir)) == good
    s = txn_state(tetra_dir, row["id"])
    assert s["stage"] == "FAIL" and s["error"] == "operator gave up"
    assert not (tetra_dir / "locks" / "local.lock").exists()


def test_the_health_url_is_polled_and_a_dead_one_fails_the_deploy(tetra, tetra_dir, tmp_path):
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "health").write_text("ok")
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "-d", str(tmp_path / "www")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        r = tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1")),
                  "--health", f"http://127.0.0.1:{port}/health")
        assert r.returncode == 0, r.stderr
        good = current(dp(tetra_dir))
        r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")),
                  "--health", f"http://127.0.0.1:{port}/missing", "--health-timeout", "1")
    finally:
        server.kill()
        server.wait()
    assert r.returncode == 1
    assert "host local failed at validate: health http" in r.stderr
    assert current(dp(tetra_dir)) == good


import pytest  # noqa: E402


@pytest.mark.parametrize("point", ["deploy.prepare", "deploy.upload", "deploy.verify",
                                   "deploy.extract", "deploy.switch", "deploy.switch.mid",
                                   "deploy.validate", "append.after@9", "state.after@14"])
def test_a_deploy_killed_at_any_step_resumes_to_done_or_fails_back(tetra, tetra_dir, tmp_path, point):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = current(dp(tetra_dir))
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")), "--check", "true",
              env={"TETRA_CRASH_AT": point})
    assert r.returncode == 137, (point, r.stdout, r.stderr)
    row = newest(tetra)
    assert row["display_stage"] == "interrupted"
    assert tetra("txn", "verify", row["id"]).returncode == 0
    assert tetra("txn", "rebuild", row["id"]).returncode == 0
    assert served(dp(tetra_dir)) in ("v1", "v2")  # never a half-switched current
    r = tetra("txn", "resume", row["id"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert txn_state(tetra_dir, row["id"])["stage"] == "DONE"
    assert served(dp(tetra_dir)) == "v2" and current(dp(tetra_dir)) == row["id"]
    assert good in releases(dp(tetra_dir))
    assert not (tetra_dir / "locks" / "local.lock").exists()


def test_an_unknown_target_fails_clearly_and_starts_nothing(tetra, tetra_dir, tmp_path):
    r = tetra("deploy", "@nowhere", str(artifact(tmp_path / "1.tar.gz", "v1")))
    assert r.returncode == 1
    assert "unknown target @nowhere" in r.stderr and "Traceback" not in r.stderr
    assert not (tetra_dir / "deploy").exists()


@pytest.mark.parametrize("sig, status, why", [(signal.SIGINT, 130, "Ctrl-C"),
                                                (signal.SIGTERM, 143, "SIGTERM")])
def test_ctrl_c_or_sigterm_during_a_deploy_switches_back_and_exits_130_or_143(
        tetra, tetra_env, tetra_dir, tmp_path, sig, status, why):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = current(dp(tetra_dir))
    proc = subprocess.Popen([TETRA, "deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")),
                             "--check", "sleep 60"], env=tetra_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while served(dp(tetra_dir)) != "v2":  # switched; now validating (sleep 60)
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert current(dp(tetra_dir)) == good
    assert f"FAIL: interrupted ({why}); rolled back local" in err, err
    s = txn_state(tetra_dir, newest(tetra)["id"])
    assert s["stage"] == "FAIL" and s["error"] == f"interrupted ({why})"
    assert not (tetra_dir / "locks" / "local.lock").exists()
