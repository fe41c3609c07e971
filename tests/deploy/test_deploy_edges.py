"""Deploy and rollback at their edges (SPEC 7, 10): which release a rollback
returns to, what pruning keeps, the topology's health_timeout, every failed
host named, and input refused before any transaction starts."""

from __future__ import annotations

import json
import socket

import pytest
from deploy_helpers import artifact, current, deploy_ids, releases, served


def dp(tetra_dir):
    return tetra_dir / "deploy" / "hosts" / "local"


def deploy(tetra, tmp_path, version: str, *flags: str) -> str:
    r = tetra("deploy", "@local", str(artifact(tmp_path / f"{version}.tar.gz", version)), *flags)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_rollback_does_not_return_to_a_release_rolled_back_from(tetra, tetra_dir, tmp_path):
    """deploy v1, v2; rollback → v1; deploy v3; rollback → v1 again, not v2."""
    deploy(tetra, tmp_path, "v1")
    v1 = current(dp(tetra_dir))
    deploy(tetra, tmp_path, "v2")
    v2 = current(dp(tetra_dir))
    assert tetra("rollback", "@local").returncode == 0
    assert served(dp(tetra_dir)) == "v1"
    deploy(tetra, tmp_path, "v3")
    v3 = current(dp(tetra_dir))
    r = tetra("rollback", "@local")
    assert r.returncode == 0, r.stderr
    assert (current(dp(tetra_dir)), served(dp(tetra_dir))) == (v1, "v1")
    assert f"rolled back 1 host(s) to {v1}" in r.stdout

    listing = json.loads(tetra("releases", "@local", "--json").stdout)["local"]
    assert (listing["current"], listing["rolled_back"]) == (v1, [v2, v3])
    text = tetra("releases", "@local").stdout.splitlines()
    assert f"    {v3}   (rolled back from)" in text and f"  * {v1}   (current)" in text

    # Named with --to, a release rolled back from is served again, and no longer marked.
    assert tetra("rollback", "@local", "--to", v2).returncode == 0
    assert served(dp(tetra_dir)) == "v2"
    assert json.loads(tetra("releases", "@local", "--json").stdout)["local"]["rolled_back"] == [v3]
    # v1 is older: going forward to v2 did not mark it; v2's rollback goes to v1
    assert tetra("rollback", "@local").returncode == 0 and served(dp(tetra_dir)) == "v1"
    r = tetra("rollback", "@local")
    assert r.returncode == 1 and f"no release before {v1} to roll back to" in r.stderr


def test_pruning_keeps_the_release_that_ran_before_this_deploy(tetra, tetra_dir, tmp_path):
    """With --keep 2, the two kept are the new release and the one it replaced
    (a rollback's target), even when a newer one exists that was not running."""
    deploy(tetra, tmp_path, "v1")
    v1 = current(dp(tetra_dir))
    deploy(tetra, tmp_path, "v2")
    assert tetra("rollback", "@local").returncode == 0  # now running v1, v2 is newer
    deploy(tetra, tmp_path, "v3", "--keep", "2")
    v3 = current(dp(tetra_dir))
    assert releases(dp(tetra_dir)) == sorted([v1, v3])
    assert tetra("rollback", "@local").returncode == 0 and served(dp(tetra_dir)) == "v1"
    deploy(tetra, tmp_path, "v4", "--keep", "1")  # one kept: only the new one
    assert releases(dp(tetra_dir)) == [current(dp(tetra_dir))] and served(dp(tetra_dir)) == "v4"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_topology_health_timeout_bounds_the_polling(tetra, tetra_dir, tmp_path):
    (tetra_dir / "topology.toml").write_text(
        f'[targets.local]\nconnector = "local"\nhosts = ["local"]\n'
        f'health = "http://127.0.0.1:{_closed_port()}/"\nhealth_timeout = 1\n')
    r = tetra("deploy", "@local", str(artifact(tmp_path / "1.tar.gz", "v1")))
    assert r.returncode == 1
    assert "host local failed at validate: health http://127.0.0.1:" in r.stderr
    assert "not ok after 1s" in r.stderr, r.stderr
    r = tetra("deploy", "@local", str(artifact(tmp_path / "2.tar.gz", "v2")), "--health-timeout", "0.5")
    assert r.returncode == 1 and "not ok after 0.5s" in r.stderr, r.stderr  # the flag wins


def test_every_host_that_failed_is_named(tetra, tetra_dir, tmp_path):
    hosts = ", ".join(f'{{ name = "h{i}", connector = "local", deploy_path = "{tmp_path}/h{i}" }}'
                      for i in (1, 2, 3))
    (tetra_dir / "topology.toml").write_text(f"[targets.multi]\nhosts = [{hosts}]\n")
    r = tetra("deploy", "@multi", str(artifact(tmp_path / "1.tar.gz", "v1")), "--check", "false")
    assert r.returncode == 1
    [line] = [x for x in r.stderr.splitlines() if " FAIL: " in x]
    for h in ("h1", "h2", "h3"):
        assert f"host {h} failed at validate: exit status 1" in line or \
            f"host {h} failed at validate: exit 1" in line, line


@pytest.mark.parametrize("words, message", [
    (["rollback", "@local", "--health", "http://127.0.0.1:1/", "--check", "true"],
     "rollback: give --health or --check, not both"),
    (["rollback", "@local", "--to", ""], "rollback: --to is empty"),
    (["rollback", "@local", "--check", " "], "rollback: --check is empty"),
    (["deploy", "@local", "A", "--health", ""], "deploy: --health is empty"),
    (["deploy", "@local", "A", "--config", ""], "deploy: --config is empty"),
    (["deploy", "@local", ""], "deploy: the artifact path is empty"),
])
def test_empty_or_conflicting_values_are_usage_errors(tetra, tetra_dir, tmp_path, words, message):
    words = [str(artifact(tmp_path / "a.tar.gz", "v1")) if w == "A" else w for w in words]
    r = tetra(*words)
    assert (r.returncode, r.stderr.splitlines()[0]) == (2, f"tetra: line 1: {message}"), r.stderr
    assert deploy_ids(tetra_dir) == []


@pytest.mark.parametrize("config, message", [
    ("/proc/self/mem", "deploy: cannot read config file /proc/self/mem: Input/output error"),
    ("/dev/null", "deploy: config file is not a regular file: /dev/null"),
])
def test_a_config_that_cannot_be_read_starts_no_transaction(tetra, tetra_dir, tmp_path, config, message):
    r = tetra("deploy", "@local", str(artifact(tmp_path / "a.tar.gz", "v1")), "--config", config)
    assert (r.returncode, r.stderr) == (1, f"tetra: line 1: {message}\n")
    assert deploy_ids(tetra_dir) == []


def test_an_artifact_that_is_not_a_regular_file_says_so(tetra, tetra_dir):
    r = tetra("deploy", "@local", "/dev/null")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "tetra: line 1: deploy: artifact is not a regular file: /dev/null"
    assert deploy_ids(tetra_dir) == []


def test_an_empty_deploy_path_fails_before_any_host_is_touched(tetra, tetra_dir, tmp_path):
    (tetra_dir / "topology.toml").write_text(
        '[targets.app]\nhosts = [{ name = "a1", connector = "local", deploy_path = "" }]\n')
    r = tetra("deploy", "@app", str(artifact(tmp_path / "a.tar.gz", "v1")))
    assert r.returncode == 1
    assert " FAIL: a1: deploy_path is empty" in r.stderr.splitlines()[0], r.stderr
    assert "hint: set it in the topology" in r.stderr
