"""deploy over SSH to several hosts (a real OpenSSH server on loopback; the
topology's host entries point at it with different deploy_paths)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy_helpers import artifact, current, served, txn_state
from sshd import silent_listener, ssh_keys, sshd  # noqa: F401  (fixtures)

pytestmark = pytest.mark.ssh

HOSTS = ("web-1", "web-2", "web-3")


@pytest.fixture
def health_server(tmp_path):
    """An HTTP server answering /health (the "service" the hosts check)."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "health").write_text("ok")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "-d", str(tmp_path / "www")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    yield f"http://127.0.0.1:{port}/health"
    proc.kill()
    proc.wait()


@pytest.fixture
def web(sshd, ssh_keys, tmp_path, tetra_dir, health_server):  # noqa: F811
    """A topology: @web = three host entries on the loopback sshd; web-2's
    health URL is dead (port 1), the others' is a live server."""
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    roots = {h: tmp_path / "hosts" / h for h in HOSTS}
    lines = ["[defaults]", f'user = "{sshd.user}"', f"port = {sshd.port}",
             f'identity_file = "{ssh_keys.private}"', f'known_hosts = "{known}"',
             "identities_only = true", "agent = false", "connect_retries = 0", "",
             "[targets.web]", "hosts = ["]
    for h in HOSTS:
        lines.append(f'  {{ name = "{h}", host = "127.0.0.1", deploy_path = "{roots[h]}" }},')
    lines += ["]", "", "[targets.svc]", "hosts = ["]
    for h in HOSTS:
        url = "http://127.0.0.1:1/health" if h == "web-2" else health_server
        lines.append(f'  {{ name = "s{h}", host = "127.0.0.1", deploy_path = "{roots[h]}", '
                     f'health = "{url}" }},')
    lines += ["]", "", "[targets.gone]",
              'hosts = [{ name = "gone-1", host = "127.0.0.1", port = 1 }]']
    (tetra_dir / "topology.toml").write_text("\n".join(lines) + "\n")
    return roots


def test_deploy_to_three_ssh_hosts_then_rollback(tetra, tetra_dir, tmp_path, web):
    r = tetra("deploy", "@web", str(artifact(tmp_path / "1.tar.gz", "v1")), "--check", "grep -q v1 index.html")
    assert r.returncode == 0, r.stderr + r.stdout
    first = json.loads(tetra("txn", "ls", "--json").stdout)[0]["id"]
    for h in HOSTS:
        assert current(web[h]) == first and served(web[h]) == "v1"
    s = txn_state(tetra_dir, first)
    assert s["stage"] == "DONE" and sorted(s["hosts"]) == list(HOSTS)
    assert all(f"verify:{h}" in s["steps"] for h in HOSTS)

    r = tetra("deploy", "@web", str(artifact(tmp_path / "2.tar.gz", "v2")))
    assert r.returncode == 0, r.stderr
    assert all(served(web[h]) == "v2" for h in HOSTS)
    # one machine: one upload; the other entries reuse it; one summary line for validate
    assert r.stdout.count("] upload → ") == 1 and r.stdout.count("reusing its verified upload") == 2
    assert "validate skipped on 3 hosts: web-1, web-2, web-3" in r.stdout
    r = tetra("releases", "@web", "--json")
    listing = json.loads(r.stdout)
    assert all(len(listing[h]["releases"]) == 2 for h in HOSTS)
    r = tetra("rollback", "@web")
    assert r.returncode == 0, r.stderr
    assert all(current(web[h]) == first and served(web[h]) == "v1" for h in HOSTS)


def test_a_failing_check_on_one_of_three_hosts_rolls_all_three_back(tetra, tetra_dir, tmp_path, web):
    assert tetra("deploy", "@web", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = {h: current(web[h]) for h in HOSTS}
    # web-2's check fails: its deploy_path contains "web-2"
    r = tetra("deploy", "@web", str(artifact(tmp_path / "2.tar.gz", "v2")),
              "--check", 'case "$PWD" in *web-2*) exit 3;; esac')
    assert r.returncode == 1
    line = next(l for l in r.stderr.splitlines() if "FAIL" in l)
    assert "host web-2 failed at validate" in line
    for h in HOSTS:
        assert h in line.split("rolled back", 1)[1]
        assert current(web[h]) == good[h] and served(web[h]) == "v1"
    s = txn_state(tetra_dir, json.loads(tetra("txn", "ls", "--json").stdout)[0]["id"])
    assert s["stage"] == "FAIL" and sorted(s["rollback"]["restored"]) == list(HOSTS)
    for h in HOSTS:  # no half state: the failed release's files are gone from every host
        left = sorted(p.name for p in (web[h] / "releases").iterdir())
        assert left == [good[h], f"{good[h]}.tar.gz"], (h, left)
        assert f"[{h}] removed the failed release releases/{s['id']}" in r.stdout


def test_dry_run_on_ssh_changes_nothing_on_any_host(tetra, tmp_path, web):
    r = tetra("deploy", "@web", str(artifact(tmp_path / "1.tar.gz", "v1")), "--dry-run")
    assert r.returncode == 0, r.stderr
    for h in HOSTS:
        assert f"[{h}]" in r.stdout and str(web[h]) in r.stdout
        assert not web[h].exists()


def test_an_unreachable_host_fails_clearly_and_leaves_no_half_state(tetra, tetra_dir, tmp_path, web):
    r = tetra("deploy", "@gone", str(artifact(tmp_path / "1.tar.gz", "v1")))
    assert r.returncode == 1
    line = next(l for l in r.stderr.splitlines() if "FAIL" in l)
    assert "host gone-1 failed at prepare: cannot connect" in line and "nothing was switched" in line
    assert "Traceback" not in r.stderr
    s = txn_state(tetra_dir, json.loads(tetra("txn", "ls", "--json").stdout)[0]["id"])
    assert s["stage"] == "FAIL" and not s["locks"]
    assert not list((tetra_dir / "locks").glob("*.lock"))


def test_a_failing_health_url_on_one_of_three_hosts_rolls_all_three_back(tetra, tmp_path, web):
    assert tetra("deploy", "@web", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = {h: current(web[h]) for h in HOSTS}
    r = tetra("deploy", "@svc", str(artifact(tmp_path / "2.tar.gz", "v2")), "--health-timeout", "2")
    assert r.returncode == 1
    line = next(l for l in r.stderr.splitlines() if "FAIL" in l)
    assert "host sweb-2 failed at validate: health http://127.0.0.1:1/health not ok" in line
    for h in HOSTS:
        assert f"s{h} (to {good[h]})" in line
        assert current(web[h]) == good[h] and served(web[h]) == "v1"


def test_a_deploy_killed_mid_switch_on_ssh_is_switched_back_by_txn_fail(tetra, tetra_dir, tmp_path, web):
    assert tetra("deploy", "@web", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    good = {h: current(web[h]) for h in HOSTS}
    r = tetra("deploy", "@web", str(artifact(tmp_path / "2.tar.gz", "v2")), "--parallel", "1",
              env={"TETRA_CRASH_AT": "deploy.switch.mid@2"})  # web-1 switched, web-2 half
    assert r.returncode == 137
    row = json.loads(tetra("txn", "ls", "--json").stdout)[0]
    assert row["display_stage"] == "interrupted"
    assert served(web["web-1"]) == "v2" and served(web["web-2"]) == "v1"
    r = tetra("txn", "fail", row["id"], "abandoned after crash")
    assert r.returncode == 0, r.stderr
    for h in HOSTS:
        assert current(web[h]) == good[h] and served(web[h]) == "v1"
    assert txn_state(tetra_dir, row["id"])["stage"] == "FAIL"


def test_txn_exec_runs_on_every_host_with_prefixed_output(tetra, web):
    r = tetra("-c", 'txn new "look" @web; txn resolve; txn exec -- printf "%s\\n" "$(id)"; '
                    "txn validate -- true; txn commit")
    assert r.returncode == 0, r.stderr
    for h in HOSTS:
        assert f"[{h}] $(id)" in r.stdout  # one argument, quoted: no remote expansion


def test_over_ssh_the_upload_is_the_hosts_sha256_check_and_a_wrong_one_leaves_nothing(
        tetra, tetra_dir, tmp_path, web):
    """The host hashes the uploaded file and it must equal the artifact's sha256
    before it is renamed into place; deploy records that as its verify step."""
    import hashlib
    import io

    from tetra_repl.connectors import TransferError, pool_for
    from tetra_repl.env import Environment
    from tetra_repl.session import Session
    from tetra_repl.ttm import targets

    art = artifact(tmp_path / "1.tar.gz", "v1")
    sha = hashlib.sha256(art.read_bytes()).hexdigest()
    r = tetra("deploy", "@web", str(art), "--dry-run")
    assert f"sha256 computed on the host must be {sha}" in r.stdout
    r = tetra("deploy", "@web", str(art))
    assert r.returncode == 0, r.stderr
    s = txn_state(tetra_dir, json.loads(tetra("txn", "ls", "--json").stdout)[0]["id"])
    assert {s["steps"][f"verify:{h}"]["sha256"] for h in HOSTS} == {sha}

    session = Session(Environment(stdout=io.StringIO(), stderr=io.StringIO(), state_dir=tetra_dir))
    try:
        [host] = [h for h in targets.resolve(session, "@web").hosts if h.name == "web-1"]
        conn = pool_for(session).get(host)
        dest = web["web-1"] / "checked.tar.gz"
        with pytest.raises(TransferError, match="not the expected"):
            conn.put(str(art), str(dest), expect_sha256="0" * 64)
        assert not dest.exists()
        assert not [p for p in dest.parent.iterdir() if "checked" in p.name]  # no temp left
        assert conn.put(str(art), str(dest), expect_sha256=sha) == sha and dest.exists()
    finally:
        session.close()


def test_two_entries_with_one_deploy_path_on_one_machine_are_refused(tetra, tetra_dir, tmp_path, web):
    """They would unpack into and switch the same directory: refused at
    ASSEMBLE with a clear line, before any host is touched."""
    shared = tmp_path / "hosts" / "shared"
    topo = tetra_dir / "topology.toml"
    topo.write_text(topo.read_text() + "\n[targets.twin]\nhosts = [\n" + "".join(
        f'  {{ name = "{n}", host = "127.0.0.1", deploy_path = "{shared}" }},\n' for n in ("t-1", "t-2"))
        + "]\n")
    r = tetra("deploy", "@twin", str(artifact(tmp_path / "1.tar.gz", "v1")))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"host entries t-1 and t-2 are one machine with one deploy_path ({shared})" in r.stderr
    assert not shared.exists()
    s = txn_state(tetra_dir, json.loads(tetra("txn", "ls", "--json").stdout)[0]["id"])
    assert s["stage"] == "FAIL" and not s["locks"]
    assert tetra("deploy", "@twin[t-1]", str(artifact(tmp_path / "1.tar.gz", "v1"))).returncode == 0
    assert served(shared) == "v1"


def test_entries_of_one_silent_machine_make_one_connection_attempt(tetra, tmp_path, sshd, ssh_keys):  # noqa: F811
    """Four entries that are one login on one machine share one connection:
    when the machine accepts TCP but never speaks SSH, the deploy fails after
    one attempt (not one per entry, each waiting out connect_timeout)."""
    with silent_listener() as (port, accepted):
        entries = ",\n".join(f'  {{ name = "m{i}", host = "127.0.0.1", port = {port}, '
                             f'deploy_path = "{tmp_path}/m{i}" }}' for i in range(4))
        (tmp_path / "mute.toml").write_text(
            f'[defaults]\nuser = "{sshd.user}"\nidentity_file = "{ssh_keys.private}"\n'
            f'known_hosts = "{tmp_path}/known_hosts"\nidentities_only = true\nagent = false\n'
            f'connect_timeout = 0.5\nconnect_retries = 0\n\n[targets.mute]\nhosts = [\n{entries}\n]\n')
        r = tetra("--topology", str(tmp_path / "mute.toml"), "deploy", "@mute",
                  str(artifact(tmp_path / "1.tar.gz", "v1")))
    assert r.returncode == 1
    line = next(l for l in r.stderr.splitlines() if "FAIL" in l)
    assert "failed at prepare" in line and "timed out after 0.5s" in line, line
    assert len(accepted) == 1


def _tree(root) -> dict:
    """Every entry under ``root``: kind, mode, size, mtime, link target, content."""
    import os

    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            body = (os.readlink(p) if os.path.islink(p)
                    else open(p, "rb").read() if os.path.isfile(p) else None)
            out[rel] = (st.st_mode, st.st_size, st.st_mtime_ns, body)
    return out


def test_entries_on_one_machine_get_independent_copies_equal_to_the_unpacked_tree(
        tetra, tetra_dir, tmp_path, web):
    """The first entry unpacks; the others copy its tree (big files with direct
    I/O): same names, modes, times, symlinks and bytes, and no shared inode."""
    import os
    import tarfile

    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "data").mkdir()
    (src / "index.html").write_text("v1")
    (src / "bin" / "run").write_text("#!/bin/sh\necho run\n")
    os.chmod(src / "bin" / "run", 0o750)
    (src / "data" / "big model.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (src / "data" / "one-mib").write_bytes(os.urandom(1024 * 1024))
    os.symlink("../index.html", src / "data" / "link")
    os.utime(src / "data" / "big model.bin", ns=(10**18, 10**18))
    os.utime(src / "data", ns=(2 * 10**18, 2 * 10**18))
    art = tmp_path / "tree.tar.gz"
    with tarfile.open(art, "w:gz") as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
    r = tetra("deploy", "@web", str(art))
    assert r.returncode == 0, r.stderr
    trees = {h: _tree(web[h] / "current/") for h in HOSTS}
    assert trees["web-1"]["data/big model.bin"][3] == (src / "data" / "big model.bin").read_bytes()
    assert trees["web-1"]["data/big model.bin"][2] == 10**18
    assert trees["web-1"]["data/link"][3] == "../index.html"
    assert trees["web-1"]["bin/run"][0] & 0o777 == 0o750
    assert trees["web-2"] == trees["web-1"] and trees["web-3"] == trees["web-1"]
    inodes = {h: os.stat(web[h] / "current" / "data" / "big model.bin").st_ino for h in HOSTS}
    assert len(set(inodes.values())) == 3  # independent: one entry's writes touch no other


def test_the_tree_copy_falls_back_to_plain_cp_a(tmp_path):
    """Where the fast copy cannot run (here: a cp that cannot skip existing
    files) the release is a plain ``cp -a`` of the tree, with nothing left over."""
    import os
    import subprocess

    from plugins.deploy import plan as P

    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(2 * 1024 * 1024))
    (src / "small").write_text("s")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "cp").write_text('#!/bin/sh\nfor a; do case "$a" in --update=none|-an) exit 1;; esac; done\n'
                             'exec /bin/cp "$@"\n')
    os.chmod(shim / "cp", 0o755)
    (tmp_path / "dep" / "releases").mkdir(parents=True)
    op = P.copy_tree(str(src), P.Layout(str(tmp_path / "dep"), "R1"))
    r = subprocess.run(op.argv, capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    rel = tmp_path / "dep" / "releases"
    assert sorted(p.name for p in rel.iterdir()) == ["R1"]
    assert (rel / "R1" / "big").read_bytes() == (src / "big").read_bytes()
    assert (rel / "R1" / "small").read_text() == "s"


def test_the_tree_copy_keeps_extended_attributes_of_big_and_small_files(tmp_path):
    """Like ``cp -a``: the direct-I/O copy of a big file keeps its xattrs too."""
    import os
    import subprocess

    import pytest

    from plugins.deploy import plan as P

    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(2 * 1024 * 1024))
    (src / "small").write_text("s")
    try:
        for name in ("big", "small"):
            os.setxattr(src / name, "user.tetra", name.encode())
    except OSError:
        pytest.skip("this filesystem keeps no user xattrs")
    (tmp_path / "dep" / "releases").mkdir(parents=True)
    op = P.copy_tree(str(src), P.Layout(str(tmp_path / "dep"), "R1"))
    r = subprocess.run(op.argv, capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    rel = tmp_path / "dep" / "releases" / "R1"
    assert os.getxattr(rel / "big", "user.tetra") == b"big"
    assert os.getxattr(rel / "small", "user.tetra") == b"small"
    assert (rel / "big").read_bytes() == (src / "big").read_bytes()


@pytest.mark.parametrize("unzstd", ["exit 1", "echo 'zstd: unsupported format' >&2; exit 1", None])
def test_the_extract_falls_back_to_gzip_where_zstd_cannot_help(tmp_path, unzstd):
    """Without unzstd, or with one that fails, the release is unpacked by
    ``tar -xzf`` all the same, with nothing left over and nothing on stderr."""
    import os
    import subprocess
    import tarfile

    from plugins.deploy import plan as P

    src = tmp_path / "src"
    src.mkdir()
    (src / "app.txt").write_text("v1")
    dep = tmp_path / "dep" / "releases"
    dep.mkdir(parents=True)
    with tarfile.open(dep / "R1.tar.gz", "w:gz") as tar:
        tar.add(src / "app.txt", arcname="app.txt")
    shim = tmp_path / "shim"
    shim.mkdir()
    path = os.environ["PATH"]
    if unzstd is None:  # no unzstd at all: a PATH with only what the script needs
        for tool in ("sh", "tar", "gzip", "rm", "mkdir", "mv"):
            os.symlink(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                      text=True).stdout.strip(), shim / tool)
        path = str(shim)
    else:
        (shim / "unzstd").write_text(f"#!/bin/sh\n{unzstd}\n")
        os.chmod(shim / "unzstd", 0o755)
        path = f"{shim}:{path}"
    op = P.extract(P.Layout(str(tmp_path / "dep"), "R1"))
    r = subprocess.run(op.argv, capture_output=True, text=True, env={**os.environ, "PATH": path})
    assert (r.returncode, r.stderr) == (0, "")
    assert sorted(p.name for p in dep.iterdir()) == ["R1", "R1.tar.gz"]
    assert (dep / "R1" / "app.txt").read_text() == "v1"


def test_a_deploy_path_under_tilde_is_the_login_home_over_ssh(tetra, tetra_dir, tmp_path, web, sshd):  # noqa: F811
    """Capistrano's deploy_to "~/apps/x": the release goes under the login's
    home, not into a directory named '~'."""
    import pwd
    import shutil
    import uuid

    home = pwd.getpwnam(sshd.user).pw_dir
    name = f"tetra-test-{uuid.uuid4().hex[:8]}"
    with open(tetra_dir / "topology.toml", "a") as f:
        f.write(f'\n[targets.tilde]\nhosts = [{{ name = "t1", host = "127.0.0.1", '
                f'deploy_path = "~/{name}/app" }}]\n')
    try:
        r = tetra("deploy", "@tilde", str(artifact(tmp_path / "a.tar.gz", "v1")))
        assert r.returncode == 0, r.stderr
        assert served(Path(home) / name / "app") == "v1"
        assert not (Path(home) / "~").exists()
        r = tetra("releases", "@tilde", "--json")
        assert json.loads(r.stdout)["t1"]["current"] == current(Path(home) / name / "app")
    finally:
        shutil.rmtree(Path(home) / name, ignore_errors=True)
