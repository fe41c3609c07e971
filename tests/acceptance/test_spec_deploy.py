"""Acceptance tests for SPEC.md section 7 (Deploy), the parts of 5 and 6 a
deploy relies on (topology host settings, the deploy transaction's files and
events, leases) and the parts of 10 (bad input and faults) that concern it.

Written from the specification (and the README's documented deviations)
alone: every test runs the real ``tetra`` entry point in a subprocess against
a temporary TETRA_DIR.  SSH tests talk to a real OpenSSH server on 127.0.0.1
(tests/sshd.py); several topology host entries point at it, each with its own
deploy_path, so "a host" below is one such entry.  Every process a test
starts is ended by the test.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from deploy_helpers import current as current_of
from deploy_helpers import releases as release_dirs
from deploy_helpers import served
from sshd import ssh_keys, sshd  # noqa: F401  (fixtures)
from tetra_testing import TETRA, kill_tree, wait_for

ID_RE = r"deploy[a-z0-9-]*-\d{8}T\d{6}(?:-\d+)?"
HOSTS = ("web-1", "web-2", "web-3")


# --------------------------------------------------------------------------- helpers


def make_artifact(path: Path, version: str, extra: dict[str, str] | None = None) -> Path:
    """A gzip tarball holding ``index.html`` (= version) and any ``extra`` files."""
    files = {"index.html": version, **(extra or {})}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    no_traceback(r)
    return r


def failed(r: subprocess.CompletedProcess, code: int | None = 1) -> str:
    if code is None:
        assert r.returncode != 0, f"expected failure\n{r.stdout}\n{r.stderr}"
    else:
        assert r.returncode == code, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    no_traceback(r)
    return r.stdout + r.stderr


def txn_ls(tetra, *extra) -> list[dict]:
    return json.loads(ok(tetra("txn", "ls", "--json", *extra)).stdout)


def newest_id(tetra) -> str:
    return txn_ls(tetra)[0]["id"]


def txn_show(tetra, txn_id: str) -> dict:
    return json.loads(ok(tetra("txn", "show", txn_id, "--json")).stdout)


def deploy_txn_dir(tetra_dir: Path, txn_id: str) -> Path:
    return tetra_dir / "deploy" / "txns" / txn_id


def state(tetra_dir: Path, txn_id: str) -> dict:
    return json.loads((deploy_txn_dir(tetra_dir, txn_id) / "state.json").read_text())


def events(tetra_dir: Path, txn_id: str) -> list[dict]:
    text = (deploy_txn_dir(tetra_dir, txn_id) / "events.ndjson").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_valid_state_files(tetra_dir: Path) -> None:
    """SPEC 10: state.json and events.ndjson stay valid whatever happened."""
    for txn in (tetra_dir / "deploy" / "txns").iterdir():
        if txn.is_symlink() or not txn.is_dir():
            continue
        json.loads((txn / "state.json").read_text())
        seqs = [json.loads(line)["seq"] for line in (txn / "events.ndjson").read_text().splitlines()]
        assert seqs == list(range(1, len(seqs) + 1)), txn


def live_lock(tetra_dir: Path) -> bool:
    locks = tetra_dir / "locks"
    return locks.is_dir() and any(p.suffix == ".lock" for p in locks.iterdir())


def fail_line(r: subprocess.CompletedProcess) -> str:
    """The one-line error that ends a failed deploy."""
    lines = error_lines(r)
    assert lines, r.stdout + r.stderr
    return lines[-1]


def error_lines(r: subprocess.CompletedProcess) -> list[str]:
    """stderr without blank lines and the hint lines SPEC 10 allows."""
    return [line for line in r.stderr.splitlines()
            if line.strip() and not line.strip().lower().startswith("hint")]


@pytest.fixture
def http_server(tmp_path):
    """A plain HTTP server answering 200 on /health."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    www = tmp_path / "www"
    www.mkdir()
    (www / "health").write_text("ok")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "-d", str(www)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: _accepts(port), timeout=10)
    yield f"http://127.0.0.1:{port}/health"
    proc.kill()
    proc.wait()


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def background(tetra_env):
    """``background(*argv) -> Popen`` of a real tetra; killed (with its children) after the test."""
    procs: list[subprocess.Popen] = []

    def start(*argv: str) -> subprocess.Popen:
        proc = subprocess.Popen([TETRA, *argv], env=tetra_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            kill_tree(proc.pid)
        proc.communicate(timeout=10)


# --------------------------------------------------------------------------- @local, no topology

# README "Deviations": with no deploy_path for `local`, @local deploys go under
# DIR/deploy/hosts/local.


@pytest.fixture
def local_root(tetra_dir) -> Path:
    return tetra_dir / "deploy" / "hosts" / "local"


def test_deploy_local_with_no_topology_lays_out_releases_current_and_tarball(
        tetra, tetra_dir, tmp_path, local_root):
    assert not (tetra_dir / "topology.toml").exists()
    art = make_artifact(tmp_path / "api-1.0.0.tar.gz", "v1", {"lib/app.py": "print(1)\n"})
    r = ok(tetra("deploy", "@local", str(art)))
    txn_id = newest_id(tetra)
    assert re.fullmatch(ID_RE, txn_id), txn_id
    # releases/<txn_id>.tar.gz (the uploaded tarball, same bytes), releases/<txn_id>/ (extracted)
    tarball = local_root / "releases" / f"{txn_id}.tar.gz"
    assert tarball.is_file() and sha256(tarball) == sha256(art)
    assert (local_root / "releases" / txn_id / "index.html").read_text() == "v1"
    assert (local_root / "releases" / txn_id / "lib" / "app.py").read_text() == "print(1)\n"
    # current is a symlink to the release
    assert os.path.islink(local_root / "current")
    assert current_of(local_root) == txn_id and served(local_root) == "v1"
    assert os.path.realpath(local_root / "current") == os.path.realpath(local_root / "releases" / txn_id)
    # ASSEMBLE "prints the plan": the plan names the host and the release
    assert txn_id in r.stdout + r.stderr


def test_deploy_is_one_transaction_of_module_deploy_with_the_artifact_as_evidence(
        tetra, tetra_dir, tmp_path):
    art = make_artifact(tmp_path / "api.tar.gz", "v1")
    ok(tetra("deploy", "@local", str(art)))
    listing = txn_ls(tetra)
    assert len(listing) == 1
    txn_id = listing[0]["id"]
    assert listing[0].get("module", "deploy") == "deploy"
    assert [t["id"] for t in txn_ls(tetra, "--module", "deploy")] == [txn_id]
    assert txn_ls(tetra, "--module", "ttm") == []
    # the transaction lives under DIR/deploy/txns/<id>/
    d = deploy_txn_dir(tetra_dir, txn_id)
    assert (d / "state.json").is_file() and (d / "events.ndjson").is_file()

    shown = txn_show(tetra, txn_id)
    for key in ("id", "module", "description", "target", "actor", "stage", "version", "created_at",
                "updated_at", "evidence", "tes_plan", "error", "duration_s"):
        assert key in shown, key
    assert shown["id"] == txn_id and shown["module"] == "deploy"
    assert shown["stage"] == "DONE"
    assert "local" in json.dumps(shown["target"])
    json.dumps(shown["tes_plan"])  # plain data
    # SELECT adds the artifact as evidence with its sha256
    [ev] = [e for e in shown["evidence"] if e["sha256"] == sha256(art)]
    assert ev["bytes"] == art.stat().st_size
    for key in ("n", "file", "kind", "sha256", "bytes"):
        assert key in ev
    ev_path = Path(ev["file"]) if os.path.isabs(ev["file"]) else d / ev["file"]
    if not ev_path.exists():
        ev_path = d / "ctx" / Path(ev["file"]).name
    assert ev_path.exists() and ev_path.parent.name == "ctx"
    assert re.match(r"1\d\d_", ev_path.name), ev_path.name  # evidence numbering 100+
    assert sha256(ev_path) == sha256(art)

    # human forms name it too
    assert txn_id in ok(tetra("txn", "ls")).stdout
    show = ok(tetra("txn", "show", txn_id)).stdout
    assert "DONE" in show and sha256(art) in show


def test_deploy_events_walk_the_stages_and_record_leases_and_resolution(tetra, tetra_dir, tmp_path):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "a.tar.gz", "v1"))))
    txn_id = newest_id(tetra)
    evs = events(tetra_dir, txn_id)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    for e in evs:
        for key in ("seq", "ts", "type", "stage", "actor", "data"):
            assert key in e, (key, e)
    types = [e["type"] for e in evs]
    assert types[0] == "txn_start"
    for t in ("evidence_added", "tes_resolved", "lock_acquired", "lock_released", "txn_commit"):
        assert t in types, (t, types)
    assert types.count("tes_resolved") == 8
    # stages only move forward: SELECT → ASSEMBLE → EXECUTE → VALIDATE → DONE
    order = ["NEW", "SELECT", "ASSEMBLE", "EXECUTE", "VALIDATE", "DONE"]
    seen = [order.index(e["stage"]) for e in evs]
    assert seen == sorted(seen), [e["stage"] for e in evs]
    assert {"SELECT", "ASSEMBLE", "EXECUTE", "VALIDATE", "DONE"} <= {e["stage"] for e in evs}
    # the lease is taken before EXECUTE, released at the end
    first_lock = types.index("lock_acquired")
    assert order.index(evs[first_lock]["stage"]) < order.index("EXECUTE")
    assert types.index("lock_released") > types.index("lock_acquired")
    s = state(tetra_dir, txn_id)
    assert s["stage"] == "DONE" and s["error"] in (None, "")
    assert isinstance(s["duration_s"], (int, float))


def test_a_second_deploy_switches_current_and_keeps_the_first_release(tetra, tmp_path, local_root):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    first = current_of(local_root)
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    second = current_of(local_root)
    assert second != first and served(local_root) == "v2"
    assert release_dirs(local_root) == sorted([first, second])
    assert (local_root / "releases" / first / "index.html").read_text() == "v1"


def test_releases_lists_them_and_marks_current_json_too(tetra, tmp_path):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    first = newest_id(tetra)
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    second = newest_id(tetra)
    r = ok(tetra("releases", "@local"))
    assert first in r.stdout and second in r.stdout
    current_lines = [line for line in r.stdout.splitlines() if second in line]
    assert any(re.search(r"current|\*|→|->", line) for line in current_lines), r.stdout
    data = json.loads(ok(tetra("releases", "@local", "--json")).stdout)
    text = json.dumps(data)
    assert first in text and second in text and "current" in text


def test_rollback_goes_back_one_release_as_its_own_transaction(tetra, tetra_dir, tmp_path, local_root):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    first = current_of(local_root)
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    before = {t["id"] for t in txn_ls(tetra)}
    ok(tetra("rollback", "@local"))
    assert current_of(local_root) == first and served(local_root) == "v1"
    after = txn_ls(tetra)
    new = [t for t in after if t["id"] not in before]
    assert len(new) == 1, "rollback is its own transaction"
    assert txn_show(tetra, new[0]["id"])["stage"] == "DONE"
    assert os.path.islink(local_root / "current")


def test_rollback_to_a_named_release(tetra, tmp_path, local_root):
    ids = []
    for n in (1, 2, 3):
        ok(tetra("deploy", "@local", str(make_artifact(tmp_path / f"{n}.tar.gz", f"v{n}"))))
        ids.append(current_of(local_root))
    ok(tetra("rollback", "@local", "--to", ids[0]))
    assert current_of(local_root) == ids[0] and served(local_root) == "v1"
    ok(tetra("rollback", "@local", "--to=" + ids[2]))
    assert current_of(local_root) == ids[2] and served(local_root) == "v3"


def test_rollback_to_an_unknown_release_fails_and_changes_nothing(tetra, tetra_dir, tmp_path, local_root):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    cur = current_of(local_root)
    out = failed(tetra("rollback", "@local", "--to", "deploy-nope-20000101T000000"))
    assert "deploy-nope-20000101T000000" in out
    assert current_of(local_root) == cur
    assert_valid_state_files(tetra_dir)


def test_rollback_with_no_earlier_release_fails_cleanly(tetra, tmp_path, local_root):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    cur = current_of(local_root)
    failed(tetra("rollback", "@local"))
    assert current_of(local_root) == cur


def test_keep_prunes_to_the_newest_n_releases_default_five(tetra, tmp_path, local_root):
    ids = []
    for n in range(1, 7):
        ok(tetra("deploy", "@local", str(make_artifact(tmp_path / f"{n}.tar.gz", f"v{n}"))))
        ids.append(current_of(local_root))
    assert release_dirs(local_root) == sorted(ids[1:]), "default --keep is 5"
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "7.tar.gz", "v7")), "--keep", "2"))
    ids.append(current_of(local_root))
    assert release_dirs(local_root) == sorted(ids[-2:])
    assert served(local_root) == "v7"
    # the pruned releases' tarballs go too; releases lists what is left
    left = re.findall(ID_RE, ok(tetra("releases", "@local")).stdout)
    assert sorted(left) == sorted(ids[-2:]), left


def test_dry_run_prints_the_plan_and_remote_commands_and_changes_nothing(
        tetra, tetra_dir, tmp_path, local_root):
    art = make_artifact(tmp_path / "api.tar.gz", "v1")
    r = ok(tetra("deploy", "@local", str(art), "--dry-run", "--check", "test -s index.html"))
    out = r.stdout + r.stderr
    txn_id = newest_id(tetra)
    # every remote command: it names the release paths it would use
    assert f"releases/{txn_id}.tar.gz" in out
    assert f"releases/{txn_id}" in out and "current" in out
    assert "test -s index.html" in out  # the check command it would run
    assert sha256(art) in out or "sha256" in out.lower()
    assert not (local_root / "current").exists()
    assert release_dirs(local_root) == []
    assert not (local_root / "releases" / f"{txn_id}.tar.gz").exists()
    # it stopped after ASSEMBLE (README: ends FAIL "dry run…" while exiting 0)
    s = state(tetra_dir, txn_id)
    assert s["stage"] in ("ASSEMBLE", "FAIL")
    assert "EXECUTE" not in [e["stage"] for e in events(tetra_dir, txn_id)]


def test_check_command_failing_rolls_back_to_the_previous_release(tetra, tetra_dir, tmp_path, local_root):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--check", "true"))
    good = current_of(local_root)
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2")), "--check", "false")
    failed(r, 1)
    assert current_of(local_root) == good and served(local_root) == "v1"
    line = fail_line(r)
    assert "local" in line and "validate" in line.lower() and "rolled back" in line, line
    txn_id = newest_id(tetra)
    s = state(tetra_dir, txn_id)
    assert s["stage"] == "FAIL" and s["error"]
    types = [e["type"] for e in events(tetra_dir, txn_id)]
    for t in ("validate_failed", "rollback_started", "rollback_finished", "txn_fail", "lock_released"):
        assert t in types, (t, types)
    # the failed release is not offered by releases / rollback
    assert txn_id not in ok(tetra("releases", "@local")).stdout


def test_first_deploy_failing_its_check_leaves_no_current(tetra, tmp_path, local_root):
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--check", "exit 7")
    failed(r, 1)
    assert current_of(local_root) is None


def test_health_url_polled_until_success(tetra, tmp_path, local_root, http_server):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--health", http_server))
    assert served(local_root) == "v1"


def test_health_and_check_together_are_refused(tetra, tmp_path, local_root, http_server):
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1")),
              "--health", http_server, "--check", "true")
    failed(r, None)
    assert len(error_lines(r)) == 1, r.stderr
    assert current_of(local_root) is None


def test_config_file_is_evidence_with_its_sha256(tetra, tmp_path, local_root):
    cfg = tmp_path / "api.env"
    cfg.write_text("PORT=8080\n")
    art = make_artifact(tmp_path / "api.tar.gz", "v1")
    ok(tetra("deploy", "@local", str(art), "--config", str(cfg)))
    shown = txn_show(tetra, newest_id(tetra))
    hashes = {e["sha256"] for e in shown["evidence"]}
    assert sha256(art) in hashes and sha256(cfg) in hashes
    assert served(local_root) == "v1"


def test_missing_config_file_fails_before_anything_changes(tetra, tmp_path, local_root):
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "a.tar.gz", "v1")),
              "--config", str(tmp_path / "nope.env"))
    out = failed(r, None)
    assert "nope.env" in out
    assert current_of(local_root) is None


def test_missing_artifact_is_a_one_line_error(tetra, tetra_dir, tmp_path, local_root):
    missing = tmp_path / "build" / "api-9.9.9.tar.gz"
    r = tetra("deploy", "@local", str(missing))
    failed(r, 1)
    assert len(error_lines(r)) == 1, r.stderr
    assert "api-9.9.9.tar.gz" in r.stderr
    assert current_of(local_root) is None
    if (tetra_dir / "deploy" / "txns").is_dir():
        assert_valid_state_files(tetra_dir)


def test_missing_artifact_in_a_script_names_the_line(tetra, tmp_path):
    script = tmp_path / "go.tetra"
    script.write_text(f"echo start\ndeploy @local {tmp_path}/none.tar.gz\necho never\n")
    r = tetra(str(script))
    failed(r, 1)
    assert "tetra: line 2:" in r.stderr
    assert "never" not in r.stdout


def test_unknown_target_fails_cleanly(tetra, tmp_path):
    r = tetra("deploy", "@nosuch", str(make_artifact(tmp_path / "a.tar.gz", "v1")))
    out = failed(r, None)
    assert "nosuch" in out


@pytest.mark.parametrize("flag", [["--parallel", "many"], ["--keep", "x"], ["--bogus"]])
def test_bad_flags_are_usage_errors_pointing_at_help(tetra, tmp_path, local_root, flag):
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "a.tar.gz", "v1")), *flag)
    failed(r, 2)
    assert "deploy" in r.stderr and "help deploy" in r.stderr
    assert len(error_lines(r)) == 1, r.stderr
    assert current_of(local_root) is None


def test_help_deploy_documents_every_flag(tetra):
    out = ok(tetra("help", "deploy")).stdout
    for flag in ("--config", "--health", "--check", "--parallel", "--keep", "--dry-run", "--wait"):
        assert flag in out, flag
    assert "rollback" in ok(tetra("help", "rollback")).stdout
    assert "--to" in ok(tetra("help", "rollback")).stdout
    assert "--json" in ok(tetra("help", "releases")).stdout


# --------------------------------------------------------------------------- leases (6.4 + --wait)


def _hold_local(background, tmp_path, tetra_dir, seconds: float) -> subprocess.Popen:
    """A deploy to @local that holds its lease while its check sleeps."""
    art = make_artifact(tmp_path / "holder.tar.gz", "holder")
    proc = background("deploy", "@local", str(art), "--check", f"sleep {seconds}")
    wait_for(lambda: live_lock(tetra_dir) or proc.poll() is not None, timeout=20)
    assert proc.poll() is None, proc.communicate()
    return proc


def test_a_lease_held_by_another_transaction_fails_fast_naming_it(
        tetra, tetra_dir, tmp_path, background, local_root):
    holder = _hold_local(background, tmp_path, tetra_dir, 3)
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "b.tar.gz", "b")))
    failed(r, 1)
    holders = [t["id"] for t in txn_ls(tetra)
                if state(tetra_dir, t["id"])["stage"] not in ("DONE", "FAIL")]
    assert len(holders) == 1, holders
    holder_id = holders[0]
    m = re.search(r"@local is locked by (\S+) \(pid (\d+) on (\S+) since ([^)]+)\)", r.stderr)
    assert m, r.stderr
    assert m.group(1) == holder_id and int(m.group(2)) == holder.pid
    # the lease file records holder txn, pid, host, token, acquired and expiry
    [lease] = [p for p in (tetra_dir / "locks").iterdir() if p.suffix == ".lock"]
    text = lease.read_text()
    assert holder_id in text and str(holder.pid) in text
    for word in ("token", "acquired", "expir"):
        assert word in text, (word, text)
    assert holder.poll() is None  # failed fast: the holder was still at work
    assert holder.wait(timeout=30) == 0
    assert served(local_root) == "holder"
    assert_valid_state_files(tetra_dir)


def test_wait_with_seconds_gives_up_when_the_lease_stays_held(tetra, tetra_dir, tmp_path, background):
    holder = _hold_local(background, tmp_path, tetra_dir, 3.5)
    started = time.monotonic()
    r = tetra("deploy", "@local", str(make_artifact(tmp_path / "b.tar.gz", "b")), "--wait=1")
    took = time.monotonic() - started
    failed(r, 1)
    assert "@local is locked by" in r.stderr
    assert took >= 0.9, took  # it waited its second
    assert holder.poll() is None  # and gave up while the holder still held the lease
    holder.wait(timeout=30)


def test_wait_waits_for_the_lease_then_deploys(tetra, tetra_dir, tmp_path, background, local_root):
    holder = _hold_local(background, tmp_path, tetra_dir, 2)
    r = ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "b.tar.gz", "b")), "--wait=30"))
    assert holder.wait(timeout=30) == 0
    assert served(local_root) == "b"
    no_traceback(r)


def test_bare_wait_flag_waits_too(tetra, tetra_dir, tmp_path, background, local_root):
    holder = _hold_local(background, tmp_path, tetra_dir, 2)
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "b.tar.gz", "b")), "--wait"))
    assert holder.wait(timeout=30) == 0
    assert served(local_root) == "b"


# --------------------------------------------------------------------------- SSH host entries


@pytest.fixture
def fleet(sshd, ssh_keys, tmp_path, tetra_dir, http_server):  # noqa: F811
    """A topology on the loopback sshd.

    - @web: three host entries (web-1, web-2 role web; web-3 role api), each its
      own deploy_path; a target-level ``restart`` that logs what ``current`` is
      when it runs; web-2's host-level ``check`` fails while a flag file exists,
      web-3's host-level ``restart`` fails while another one exists.
    - @svc: two entries with a live health URL, one (svc-2) with a dead one.
    - @gone: an entry whose port refuses connections.
    """
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    base = tmp_path / "hosts"
    roots = {h: base / h for h in HOSTS}
    flags = {"check": tmp_path / "fail-check-web-2", "restart": tmp_path / "fail-restart-web-3"}
    log = tmp_path / "restart.log"
    lines = ["[defaults]", f'user = "{sshd.user}"', f"port = {sshd.port}",
             f'identity_file = "{ssh_keys.private}"', f'known_hosts = "{known}"',
             "identities_only = true", "agent = false", "connect_retries = 0", "",
             "[targets.web]", "hosts = ["]
    for h in HOSTS:
        root = roots[h]
        role = "api" if h == "web-3" else "web"
        extra = ""
        if h == "web-2":
            extra = f', check = "test ! -e {flags["check"]}"'
        restart = (f"sh -c 'echo {h} $(readlink {root}/current) start >> {log}; sleep 0.3; "
                   f"echo {h} end >> {log}'")
        if h == "web-3":
            restart = f"sh -c 'test ! -e {flags['restart']} && echo {h} $(readlink {root}/current) start >> {log} && sleep 0.3 && echo {h} end >> {log}'"
        lines.append(f'  {{ name = "{h}", host = "127.0.0.1", deploy_path = "{root}", '
                     f'roles = ["{role}"], restart = {json.dumps(restart)}{extra} }},')
    lines += ["]", "", "[targets.svc]", "hosts = ["]
    for n in (1, 2, 3):
        url = "http://127.0.0.1:1/health" if n == 2 else http_server
        lines.append(f'  {{ name = "svc-{n}", host = "127.0.0.1", deploy_path = "{base}/svc-{n}", '
                     f'health = "{url}" }},')
    lines += ["]", "", "[targets.ok]", f'health = "{http_server}"', "hosts = ["]
    for n in (1, 2):
        lines.append(f'  {{ name = "ok-{n}", host = "127.0.0.1", deploy_path = "{base}/ok-{n}" }},')
    lines += ["]", "", "[targets.gone]",
              f'hosts = [{{ name = "gone-1", host = "127.0.0.1", port = 1, deploy_path = "{base}/gone" }}]']
    empty_known = tmp_path / "known_hosts.empty"
    empty_known.write_text("")
    odd = base / "odd dir; $(touch PWNED)"
    lines += ["", "[targets.stranger]", f'known_hosts = "{empty_known}"',
              f'hosts = [{{ name = "stranger-1", host = "127.0.0.1", deploy_path = "{base}/stranger" }}]',
              "", "[targets.odd]",
              f'hosts = [{{ name = "odd-1", host = "127.0.0.1", deploy_path = {json.dumps(str(odd))} }}]']
    lines += ["", "[targets.mixed]", "hosts = [",
              f'  {{ name = "mixed-ok", host = "127.0.0.1", deploy_path = "{base}/mixed-ok" }},',
              f'  {{ name = "mixed-bad", host = "127.0.0.1", port = 1, deploy_path = "{base}/mixed-bad" }},',
              "]"]
    (tetra_dir / "topology.toml").write_text("\n".join(lines) + "\n")
    return {"roots": roots, "flags": flags, "log": log, "base": base, "odd": odd}


def restart_log(fleet) -> list[str]:
    return fleet["log"].read_text().splitlines() if fleet["log"].exists() else []


@pytest.mark.ssh
def test_ssh_deploy_to_three_hosts_layout_on_each(tetra, tetra_dir, tmp_path, fleet):
    roots = fleet["roots"]
    art = make_artifact(tmp_path / "api-2.1.0.tar.gz", "v1")
    r = ok(tetra("deploy", "@web", str(art)))
    txn_id = newest_id(tetra)
    out = r.stdout + r.stderr
    inodes = set()
    for h in HOSTS:
        assert h in out  # per-host status
        root = roots[h]
        assert current_of(root) == txn_id and served(root) == "v1"
        assert os.path.islink(root / "current")
        tarball = root / "releases" / f"{txn_id}.tar.gz"
        assert tarball.is_file() and sha256(tarball) == sha256(art)
        assert release_dirs(root) == [txn_id]
        inodes.add(os.stat(root / "releases" / txn_id / "index.html").st_ino)
    assert len(inodes) == 3, "each host has its own release tree"
    # restart ran on each host, after the switch (current was already the new release)
    started = [line.split() for line in restart_log(fleet) if line.endswith("start")]
    assert sorted(s[0] for s in started) == list(HOSTS)
    assert all(s[1].endswith(txn_id) for s in started), started
    shown = txn_show(tetra, txn_id)
    assert shown["stage"] == "DONE" and shown["module"] == "deploy"
    assert any(e["sha256"] == sha256(art) for e in shown["evidence"])
    plan = json.dumps(shown["tes_plan"])
    assert all(h in plan for h in HOSTS)


@pytest.mark.ssh
def test_ssh_releases_and_rollback_on_every_host(tetra, tmp_path, fleet):
    roots = fleet["roots"]
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    first = newest_id(tetra)
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    second = newest_id(tetra)
    assert all(served(roots[h]) == "v2" for h in HOSTS)

    r = ok(tetra("releases", "@web"))
    for h in HOSTS:
        assert h in r.stdout
    assert first in r.stdout and second in r.stdout
    data = json.loads(ok(tetra("releases", "@web", "--json")).stdout)
    text = json.dumps(data)
    assert all(h in text for h in HOSTS) and first in text and second in text

    ok(tetra("rollback", "@web"))
    assert all(current_of(roots[h]) == first and served(roots[h]) == "v1" for h in HOSTS)
    ok(tetra("rollback", "@web", "--to", second))
    assert all(current_of(roots[h]) == second and served(roots[h]) == "v2" for h in HOSTS)


@pytest.mark.ssh
def test_ssh_failing_check_on_one_host_rolls_every_switched_host_back(tetra, tetra_dir, tmp_path, fleet):
    roots = fleet["roots"]
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    good = newest_id(tetra)
    fleet["flags"]["check"].write_text("")
    r = tetra("deploy", "@web", str(make_artifact(tmp_path / "2.tar.gz", "v2")))
    failed(r, 1)
    bad = newest_id(tetra)
    for h in HOSTS:
        assert current_of(roots[h]) == good and served(roots[h]) == "v1", h
    line = fail_line(r)
    assert "web-2" in line and "validate" in line.lower() and "rolled back" in line, line
    after = line.split("rolled back", 1)[1]
    for h in HOSTS:
        assert h in after, (h, line)
    s = state(tetra_dir, bad)
    assert s["stage"] == "FAIL"
    types = [e["type"] for e in events(tetra_dir, bad)]
    assert "rollback_started" in types and "rollback_finished" in types and "txn_fail" in types
    # not offered by releases / rollback afterwards
    assert bad not in ok(tetra("releases", "@web")).stdout
    # and the target is free again
    fleet["flags"]["check"].unlink()
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "3.tar.gz", "v3"))))
    assert all(served(roots[h]) == "v3" for h in HOSTS)


@pytest.mark.ssh
def test_ssh_failing_restart_on_one_host_rolls_back_the_switched_hosts(tetra, tetra_dir, tmp_path, fleet):
    roots = fleet["roots"]
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    good = newest_id(tetra)
    fleet["flags"]["restart"].write_text("")
    r = tetra("deploy", "@web", str(make_artifact(tmp_path / "2.tar.gz", "v2")))
    failed(r, 1)
    for h in HOSTS:
        assert current_of(roots[h]) == good and served(roots[h]) == "v1", h
    line = fail_line(r)
    assert "web-3" in line and "restart" in line.lower() and "rolled back" in line, line
    assert "web-3" in line.split("rolled back", 1)[1], line
    assert state(tetra_dir, newest_id(tetra))["stage"] == "FAIL"


@pytest.mark.ssh
def test_ssh_health_url_per_host_from_topology(tetra, tetra_dir, tmp_path, fleet):
    base = fleet["base"]
    ok(tetra("deploy", "@ok", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    assert served(base / "ok-1") == "v1" and served(base / "ok-2") == "v1"


@pytest.mark.ssh
def test_ssh_dead_health_url_on_one_host_fails_and_rolls_back(tetra, tetra_dir, tmp_path, fleet, http_server):
    base = fleet["base"]
    # first release: --health (a live URL) given on the command line wins over the topology's
    ok(tetra("deploy", "@svc", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--health", http_server))
    good = newest_id(tetra)
    assert all(current_of(base / f"svc-{n}") == good for n in (1, 2, 3))
    # SPEC: "polled until success or timeout"; the timeout's flag is in plugins/deploy/README.md
    r = tetra("deploy", "@svc", str(make_artifact(tmp_path / "2.tar.gz", "v2")), "--health-timeout", "2")
    failed(r, 1)
    line = fail_line(r)
    assert "svc-2" in line and "validate" in line.lower() and "rolled back" in line, line
    for n in (1, 2, 3):
        assert current_of(base / f"svc-{n}") == good and served(base / f"svc-{n}") == "v1"
    types = [e["type"] for e in events(tetra_dir, newest_id(tetra))]
    assert "validate_failed" in types and "validate_passed" not in types


def test_health_url_is_polled_until_it_answers(tetra, tmp_path, local_root):
    """The service comes up a little after the switch: the deploy waits for it."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    www = tmp_path / "late"
    www.mkdir()
    (www / "health").write_text("ok")
    late = subprocess.Popen([sys.executable, "-c", (
        "import time, subprocess, sys; time.sleep(2); "
        f"subprocess.run([sys.executable, '-m', 'http.server', '{port}', '--bind', '127.0.0.1', "
        f"'-d', {str(www)!r}], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")],
        start_new_session=True)
    try:
        ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1")),
                 "--health", f"http://127.0.0.1:{port}/health"))
        assert served(local_root) == "v1"
    finally:
        os.killpg(late.pid, 9)
        late.wait()


@pytest.mark.ssh
def test_ssh_parallel_one_runs_hosts_one_at_a_time(tetra, tmp_path, fleet):
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--parallel", "1"))
    marks = [line.split()[0] + ":" + line.split()[-1] for line in restart_log(fleet)]
    # each host's restart finished before the next one's started
    assert len(marks) == 6, marks
    for i in range(0, 6, 2):
        host = marks[i].split(":")[0]
        assert marks[i] == f"{host}:start" and marks[i + 1] == f"{host}:end", marks
    assert all(served(fleet["roots"][h]) == "v1" for h in HOSTS)


@pytest.mark.ssh
def test_ssh_role_and_selector_limit_the_hosts(tetra, tmp_path, fleet):
    roots = fleet["roots"]
    ok(tetra("deploy", "@web:api", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    assert served(roots["web-3"]) == "v1"
    assert current_of(roots["web-1"]) is None and current_of(roots["web-2"]) is None
    ok(tetra("deploy", "@web[web-1]", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    assert served(roots["web-1"]) == "v2" and served(roots["web-3"]) == "v1"
    assert current_of(roots["web-2"]) is None


@pytest.mark.ssh
def test_ssh_dry_run_prints_each_hosts_commands_and_touches_nothing(tetra, tmp_path, fleet):
    roots = fleet["roots"]
    r = ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--dry-run"))
    txn_id = newest_id(tetra)
    out = r.stdout + r.stderr
    for h in HOSTS:
        assert h in out and str(roots[h]) in out
        assert f"{roots[h]}/releases/{txn_id}" in out or f"releases/{txn_id}" in out
        assert not roots[h].exists(), h
    assert restart_log(fleet) == []


@pytest.mark.ssh
def test_ssh_keep_prunes_on_every_host(tetra, tmp_path, fleet):
    roots = fleet["roots"]
    ids = []
    for n in (1, 2, 3):
        ok(tetra("deploy", "@web", str(make_artifact(tmp_path / f"{n}.tar.gz", f"v{n}")), "--keep", "2"))
        ids.append(newest_id(tetra))
    for h in HOSTS:
        assert release_dirs(roots[h]) == sorted(ids[1:]), h
        assert not (roots[h] / "releases" / f"{ids[0]}.tar.gz").exists()


@pytest.mark.ssh
def test_ssh_unreachable_host_is_a_clear_error_and_leaves_valid_state(tetra, tetra_dir, tmp_path, fleet):
    r = tetra("deploy", "@gone", str(make_artifact(tmp_path / "1.tar.gz", "v1")))
    failed(r, 1)
    line = fail_line(r)
    assert "gone-1" in line, line
    txn_id = newest_id(tetra)
    assert state(tetra_dir, txn_id)["stage"] == "FAIL"
    assert "lock_released" in [e["type"] for e in events(tetra_dir, txn_id)]
    assert_valid_state_files(tetra_dir)
    # no half state on disk, and no lease left behind
    assert current_of(fleet["base"] / "gone") is None
    r2 = tetra("deploy", "@gone", str(make_artifact(tmp_path / "1.tar.gz", "v1")))
    assert "locked" not in r2.stderr


@pytest.mark.ssh
def test_ssh_dry_run_shows_the_restart_commands(tetra, tmp_path, fleet):
    out = ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "1.tar.gz", "v1")), "--dry-run")).stdout
    for h in HOSTS:
        assert f"echo {h} " in out, out  # each host's own restart command


@pytest.mark.ssh
def test_ssh_unknown_host_key_is_refused_with_how_to_trust_it(tetra, tetra_dir, tmp_path, fleet):
    r = tetra("deploy", "@stranger", str(make_artifact(tmp_path / "1.tar.gz", "v1")))
    out = failed(r, 1)
    assert "host key" in out.lower(), out
    assert "stranger-1" in out or "127.0.0.1" in out
    assert not (fleet["base"] / "stranger" / "current").exists()
    assert_valid_state_files(tetra_dir)


@pytest.mark.ssh
def test_ssh_deploy_path_with_shell_characters_is_quoted(tetra, tmp_path, fleet):
    odd = fleet["odd"]
    ok(tetra("deploy", "@odd", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    assert served(odd) == "v1"
    assert not list(tmp_path.rglob("PWNED")) and not (Path.home() / "PWNED").exists()


@pytest.mark.ssh
def test_ssh_releases_and_rollback_on_an_unreachable_host_fail_cleanly(tetra, tetra_dir, tmp_path, fleet):
    failed(tetra("releases", "@gone"), None)
    out = failed(tetra("rollback", "@gone"), None)
    assert "gone-1" in out


@pytest.mark.ssh
def test_ssh_rollback_to_a_release_missing_on_one_host_changes_no_host(tetra, tmp_path, fleet):
    roots = fleet["roots"]
    ok(tetra("deploy", "@web:api", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    only_web3 = newest_id(tetra)
    ok(tetra("deploy", "@web", str(make_artifact(tmp_path / "2.tar.gz", "v2"))))
    now = {h: current_of(roots[h]) for h in HOSTS}
    out = failed(tetra("rollback", "@web", "--to", only_web3))
    assert only_web3 in out
    assert {h: current_of(roots[h]) for h in HOSTS} == now


@pytest.mark.ssh
def test_ssh_upload_shows_progress(tetra, tmp_path, fleet):
    big = make_artifact(tmp_path / "big.tar.gz", "v1", {"blob.bin": os.urandom(600_000).hex()})
    out = ok(tetra("deploy", "@web[web-1]", str(big))).stdout
    assert re.search(r"\d+%", out), out


def test_rollback_while_the_target_is_locked_fails_fast(tetra, tetra_dir, tmp_path, background, local_root):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    holder = _hold_local(background, tmp_path, tetra_dir, 2.5)
    r = tetra("rollback", "@local")
    failed(r, 1)
    assert "@local is locked by" in r.stderr
    assert holder.wait(timeout=30) == 0
    assert served(local_root) == "holder"


def test_ctrl_c_during_a_deploy_rolls_back_and_exits_130(tetra, tetra_dir, tmp_path, background, local_root):
    import signal

    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    good = current_of(local_root)
    proc = background("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2")),
                      "--check", "sleep 20")
    wait_for(lambda: current_of(local_root) not in (None, good) or proc.poll() is not None, timeout=20)
    time.sleep(0.3)  # in VALIDATE now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert current_of(local_root) == good and served(local_root) == "v1"
    txn_id = newest_id(tetra)
    assert state(tetra_dir, txn_id)["stage"] == "FAIL"
    assert_valid_state_files(tetra_dir)
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "3.tar.gz", "v3"))))  # lease released


@pytest.mark.parametrize("kind", ["directory", "not-a-tarball"])
def test_an_artifact_that_is_not_a_tarball_is_a_clean_error(tetra, tetra_dir, tmp_path, local_root, kind):
    if kind == "directory":
        art = tmp_path / "build"
        art.mkdir()
    else:
        art = tmp_path / "notes.tar.gz"
        art.write_text("just text\n")
    r = tetra("deploy", "@local", str(art))
    failed(r, None)
    assert len(error_lines(r)) == 1, r.stderr
    assert current_of(local_root) is None


def test_artifact_name_with_shell_characters_is_never_interpolated(tetra, tmp_path, local_root):
    art = make_artifact(tmp_path / "api v1; touch PWNED $(touch PWNED2).tar.gz", "v1")
    ok(tetra("deploy", "@local", str(art)))
    assert served(local_root) == "v1"
    assert not list(tmp_path.rglob("PWNED*"))


def test_deploy_without_an_artifact_is_a_usage_error(tetra):
    r = tetra("deploy", "@local")
    failed(r, 2)
    assert "help deploy" in r.stderr


@pytest.mark.ssh
def test_ssh_one_unreachable_host_of_two_rolls_the_other_back(tetra, tetra_dir, tmp_path, fleet):
    good_root = fleet["base"] / "mixed-ok"
    ok(tetra("deploy", "@mixed[mixed-ok]", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    good = current_of(good_root)
    r = tetra("deploy", "@mixed", str(make_artifact(tmp_path / "2.tar.gz", "v2")))
    failed(r, 1)
    line = fail_line(r)
    assert "mixed-bad" in line, line
    assert current_of(good_root) == good and served(good_root) == "v1"
    assert state(tetra_dir, newest_id(tetra))["stage"] == "FAIL"
    assert_valid_state_files(tetra_dir)


def test_txn_rebuild_and_verify_reproduce_a_deploys_state(tetra, tetra_dir, tmp_path):
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    failed(tetra("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2")), "--check", "false"))
    for t in txn_ls(tetra):
        path = deploy_txn_dir(tetra_dir, t["id"]) / "state.json"
        before = json.loads(path.read_text())
        ok(tetra("txn", "verify", t["id"]))
        ok(tetra("txn", "rebuild", t["id"]))
        assert json.loads(path.read_text()) == before, t["id"]


def test_background_deploy_in_a_script_then_wait(tetra, tmp_path, local_root):
    art = make_artifact(tmp_path / "1.tar.gz", "v1")
    r = tetra(input=f'deploy @local {art} --check "sleep 1" &\njobs\nwait\n')
    ok(r)
    assert "deploy" in r.stdout
    assert served(local_root) == "v1"


def _crash_mid_validate(tetra, tmp_path, background, local_root) -> tuple[str, str]:
    """A deploy of v2 killed (SIGKILL) once switched; returns (previous release, its id)."""
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "1.tar.gz", "v1"))))
    good = current_of(local_root)
    block = tmp_path / "validate-blocks"
    block.write_text("")
    proc = background("deploy", "@local", str(make_artifact(tmp_path / "2.tar.gz", "v2")),
                      "--check", f"while [ -e {block} ]; do sleep 0.1; done")
    wait_for(lambda: current_of(local_root) not in (None, good) or proc.poll() is not None, timeout=20)
    time.sleep(0.3)
    kill_tree(proc.pid)  # as a crash would
    proc.wait(timeout=10)
    block.unlink()  # a resumed validate would pass now
    victim = newest_id(tetra)
    listing = ok(tetra("txn", "ls")).stdout
    assert any(victim in line and "interrupted" in line for line in listing.splitlines()), listing
    return good, victim


def test_txn_fail_on_a_killed_deploy_switches_back(tetra, tetra_dir, tmp_path, background, local_root):
    """README (plugins/deploy): `txn fail ID` on a deploy does the compensation."""
    good, victim = _crash_mid_validate(tetra, tmp_path, background, local_root)
    assert served(local_root) == "v2"
    ok(tetra("txn", "fail", victim, "crashed"))
    assert state(tetra_dir, victim)["stage"] == "FAIL"
    assert current_of(local_root) == good and served(local_root) == "v1"
    assert victim not in ok(tetra("releases", "@local")).stdout


def test_a_killed_deploy_is_interrupted_and_ending_it_later_undoes_nothing_newer(
        tetra, tetra_dir, tmp_path, background, local_root):
    _good, victim = _crash_mid_validate(tetra, tmp_path, background, local_root)
    # another deploy breaks the dead holder's lease (lock_broken) and goes ahead
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "3.tar.gz", "v3"))))
    third = newest_id(tetra)
    assert "lock_broken" in [e["type"] for e in events(tetra_dir, third)]
    assert served(local_root) == "v3"
    ok(tetra("txn", "fail", victim, "crashed"))
    assert state(tetra_dir, victim)["stage"] == "FAIL"
    assert served(local_root) == "v3", "ending the dead deploy must not undo a later one"
    assert_valid_state_files(tetra_dir)


def test_resuming_a_killed_deploy_after_a_newer_one_does_not_claim_it_is_deployed(
        tetra, tetra_dir, tmp_path, background, local_root):
    _good, victim = _crash_mid_validate(tetra, tmp_path, background, local_root)
    ok(tetra("deploy", "@local", str(make_artifact(tmp_path / "3.tar.gz", "v3"))))
    newer = current_of(local_root)
    r = tetra("txn", "resume", victim)
    # current runs v3, not the interrupted release: it cannot be validated nor reported DONE
    assert state(tetra_dir, victim)["stage"] != "DONE", r.stdout + r.stderr
    assert r.returncode != 0
    no_traceback(r)
    assert current_of(local_root) == newer and served(local_root) == "v3"


def test_resuming_a_killed_deploy_finishes_it(tetra, tetra_dir, tmp_path, background, local_root):
    _good, victim = _crash_mid_validate(tetra, tmp_path, background, local_root)
    ok(tetra("txn", "resume", victim))
    assert state(tetra_dir, victim)["stage"] == "DONE"
    assert current_of(local_root) == victim and served(local_root) == "v2"
