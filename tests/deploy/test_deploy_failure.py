"""A failed, cancelled or pruned deploy on @local (SPEC 7): hosts switched
back (restart included), no files of the failed release left behind,
exactly ``--keep`` releases kept; also --config, the dry run's prune and
rollback's messages."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
import time

from deploy_helpers import artifact, current, releases, served, txn_state
from tetra_testing import TETRA


def dp(tetra_dir):
    return tetra_dir / "deploy" / "hosts" / "local"


def newest(tetra) -> dict:
    return json.loads(tetra("txn", "ls", "--module", "deploy", "--json").stdout)[0]


def test_a_deploy_failing_at_extract_leaves_no_files_on_the_host(tetra, tetra_dir, tmp_path):
    """A truncated archive passes the header check, fails tar on the host: its
    upload and half-unpacked tree are removed; the first deploy's empty
    releases directory too."""
    import os

    (tmp_path / "blob").write_bytes(os.urandom(200_000))
    with tarfile.open(tmp_path / "good.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "blob", arcname="blob")
    good = (tmp_path / "good.tar.gz").read_bytes()
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(good[: len(good) // 2])
    r = tetra("deploy", "@local", str(broken))
    assert r.returncode == 1
    assert "host local failed at extract" in r.stderr and "Traceback" not in r.stderr
    assert "Unexpected EOF" in r.stderr or "unexpected end of file" in r.stderr  # why, not tar's trailer
    assert "not recoverable" not in r.stderr
    assert not (dp(tetra_dir) / "releases").exists(), list(dp(tetra_dir).rglob("*"))

    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    kept = current(dp(tetra_dir))
    r = tetra("deploy", "@local", str(broken))
    assert r.returncode == 1
    assert sorted(p.name for p in (dp(tetra_dir) / "releases").iterdir()) == [kept, f"{kept}.tar.gz"]
    assert served(dp(tetra_dir)) == "v1"


def test_a_failed_check_removes_the_failed_release_so_rollback_cannot_pick_it(tetra, tetra_dir, tmp_path):
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = current(dp(tetra_dir))
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")), "--check", "false")
    assert r.returncode == 1
    failed = newest(tetra)["id"]
    assert f"removed the failed release releases/{failed}" in r.stdout
    assert releases(dp(tetra_dir)) == [good]
    assert not list(dp(tetra_dir).glob(".current.*"))
    r = tetra("rollback", "@local", "--to", failed)
    assert r.returncode == 1 and f"release {failed} is not on the host" in r.stderr


def test_the_config_file_lands_in_the_release_under_its_own_name_hash_checked(tetra, tetra_dir, tmp_path):
    import hashlib

    conf = tmp_path / "app settings.env"
    conf.write_text("PORT=8080\n")
    sha = hashlib.sha256(conf.read_bytes()).hexdigest()
    art = artifact(tmp_path / "a.tar.gz", "v1")
    r = tetra("deploy", "@local", str(art), "--config", str(conf), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"/app settings.env (sha256 computed on the host must be {sha}" in r.stdout
    r = tetra("deploy", "@local", str(art), "--config", str(conf), "--check", "grep -q PORT=8080 'app settings.env'")
    assert r.returncode == 0, r.stderr
    assert (dp(tetra_dir) / "current" / "app settings.env").read_text() == "PORT=8080\n"
    assert r.stdout.count("upload 100%") == 1  # the config is not shown as a second upload
    s = txn_state(tetra_dir, newest(tetra)["id"])
    assert [e["kind"] for e in s["evidence"]] == ["artifact", "config"]
    assert s["evidence"][1]["sha256"] == sha


def test_keep_keeps_exactly_the_newest_n_releases(tetra, tetra_dir, tmp_path):
    for n in range(3):
        r = tetra("deploy", "@local", str(artifact(tmp_path / f"{n}.tar.gz", f"v{n}")), "--keep", "1")
        assert r.returncode == 0, r.stderr
    assert releases(dp(tetra_dir)) == [current(dp(tetra_dir))] and served(dp(tetra_dir)) == "v2"
    assert [p.name for p in (dp(tetra_dir) / "releases").glob("*.tar.gz")] == [f"{current(dp(tetra_dir))}.tar.gz"]


def test_dry_run_also_shows_the_prune_it_would_run(tetra, tmp_path):
    r = tetra("deploy", "@local", str(artifact(tmp_path / "a.tar.gz", "v1")), "--dry-run", "--keep", "3")
    assert r.returncode == 0, r.stderr
    assert "[local] prune    rm -rf -- " in r.stdout and "older than the newest 3" in r.stdout


def test_rollback_with_no_release_says_so(tetra, tetra_dir, tmp_path):
    r = tetra("rollback", "@local")
    assert r.returncode == 1
    assert "host local failed at prepare: no releases in " in r.stderr and "(none)" not in r.stderr
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    r = tetra("rollback", "@local")
    assert r.returncode == 1 and f"no release before {current(dp(tetra_dir))} to roll back to" in r.stderr
    assert served(dp(tetra_dir)) == "v1" and "Traceback" not in r.stderr


def test_ctrl_c_switch_back_runs_the_restart_hook_to_its_end(tetra, tetra_env, tetra_dir, tmp_path):
    """Ctrl-C sets off the compensation; it must not cut short the restart of
    the release switched back to (a restart that takes a moment)."""
    (tetra_dir / "topology.toml").write_text(
        '[targets.local]\nconnector = "local"\nhosts = ["local"]\n'
        'restart = "sleep 0.4; cat index.html >> ../../restarts.log"\n')
    log = dp(tetra_dir) / "restarts.log"
    assert tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = current(dp(tetra_dir))
    proc = subprocess.Popen([TETRA, "deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")),
                             "--check", "sleep 60"], env=tetra_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while log.read_text() != "v1v2":  # switched and restarted; now validating (sleep 60)
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert current(dp(tetra_dir)) == good
    assert log.read_text() == "v1v2v1"  # the old release was restarted
    assert "ROLLBACK PROBLEMS" not in err and f"rolled back local (to {good})" in err
