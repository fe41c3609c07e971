"""README.md, taken at its word: "A tour of the shell", "The language",
"A topology", "Plugins" and the other ways in, run black-box.

The tour runs in the real interactive shell on a pseudo-terminal (pexpect);
the other ways in run `tetra -c`, script files, stdin and argv.  SSH lines
(`@web …`, `deploy @staging …`, `@prod:web uptime`) go to a real OpenSSH
server on 127.0.0.1 (tests/sshd.py) through a topology shaped like the
README's.  Every check waits for output; nothing sleeps and hopes.  Every
process a test starts is stopped at its end (`tsm delete all` included).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pexpect
import psutil
import pytest
from deploy_helpers import artifact
from sshd import free_port
from tetra_testing import TETRA, install_plugin

README = Path(__file__).resolve().parents[2] / "README.md"
PROMPT = "▸"
CPR_REQUEST = re.escape("\x1b[6n")
USER = "tourist"


def new_txn(child: pexpect.spawn, name: str) -> str:
    """`txn new "NAME" @local` in the shell; returns the id it prints
    (NAME-YYYYMMDDTHHMMSS[-N])."""
    child.send(f'txn new "{name}" @local\r')
    expect(child, PROMPT_DONE)
    expect(child, rf"({name}-\d{{8}}T\d{{6}}(?:-\d+)?)\r\n")
    tid = child.match.group(1)
    expect(child, PROMPT_AGAIN)
    expect(child, PROMPT)
    return tid


def readme_block(section: str, fence: str = "") -> str:
    """The first ```fence code block under the README heading ``## section``."""
    text = README.read_text()
    body = text[text.index(f"## {section}\n"):]
    body = body[:body.find("\n## ", 1)] if "\n## " in body[1:] else body
    match = re.search(rf"^```{fence}\n(.*?)^```", body, re.MULTILINE | re.DOTALL)
    return match.group(1)


# --------------------------------------------------------------------------- the shell on a pty


def expect(child: pexpect.spawn, pattern: str) -> str:
    """``child.expect(pattern)``, answering cursor-position requests on the way
    (prompt_toolkit draws the bottom toolbar once the terminal has answered).
    Returns the text seen before the match."""
    seen = ""
    while child.expect([CPR_REQUEST, pattern]) == 0:
        seen += child.before + child.after
        child.send("\x1b[1;1R")
    return seen + child.before


PROMPT_DONE = re.escape("\x1b[?2004l")  # the prompt has accepted a line: output follows
PROMPT_AGAIN = re.escape("\x1b[?2004h")  # the next prompt is being drawn


def run(child: pexpect.spawn, line: str, *shows: str) -> str:
    """Type ``line`` and Enter; wait for each of ``shows`` in order in what the
    command prints (not in the echoed line, the prompt or the toolbar), then
    for the next prompt.  Returns the command's output."""
    child.send(line + "\r")
    expect(child, PROMPT_DONE)
    seen = ""
    for pattern in shows:
        seen += expect(child, pattern) + child.after
    seen += expect(child, PROMPT_AGAIN)
    expect(child, PROMPT)
    return seen


def tab(child: pexpect.spawn, text: str, completed: str) -> None:
    """Type ``text``, wait until it shows, press Tab, wait until its last word
    has become ``completed``.  (Completion runs in the background: keys in the
    same read as the Tab would change the line before it lands.  The terminal
    is sent only what changed: the end of the word.)"""
    child.send(text)
    expect(child, re.escape(text))
    child.send("\t")
    word = text.split(" ")[-1]
    assert completed.startswith(word)
    expect(child, re.escape(completed[len(word):]))


def clear_line(child: pexpect.spawn) -> None:
    child.send("\x03")  # Ctrl-C at the prompt drops the line
    expect(child, PROMPT)


def exit_status(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


@pytest.fixture
def env(tetra_env, tetra_dir):
    """The environment of every run; stops every tsm process at the end."""
    e = {**tetra_env, "USER": USER, "TERM": "xterm"}
    yield e
    subprocess.run([TETRA, "-c", "tsm delete all"], check=False, env=e, capture_output=True, timeout=60)


@pytest.fixture
def shell(env, tmp_path):
    """``shell(*argv, cwd=None)`` spawns `tetra` on a 100x24 pty and waits for the prompt."""
    children: list[pexpect.spawn] = []

    def spawn(*args: str, cwd: Path | None = None) -> pexpect.spawn:
        child = pexpect.spawn(TETRA, list(args), env=env, encoding="utf-8", dimensions=(24, 100),
                              timeout=20, cwd=str(cwd or tmp_path))
        children.append(child)
        # what the terminal showed, for post-mortems (closed at teardown)
        child.logfile_read = open(tmp_path / f"pty-{len(children)}.log", "w")  # noqa: SIM115
        expect(child, PROMPT)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)
        child.logfile_read.close()


@pytest.fixture
def tetra_c(env, tmp_path):
    """``tetra_c(*argv, input=None, cwd=None, env=None) -> CompletedProcess`` (``env``
    entries set to None are removed)."""
    base = env

    def go(*argv: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None):
        run_env = {k: v for k, v in {**base, **(env or {})}.items() if v is not None}
        return subprocess.run([TETRA, *argv], check=False, input=input, capture_output=True, text=True,
                              timeout=60, cwd=str(cwd or tmp_path), env=run_env)

    return go


def alive_with(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and marker in (p.info["cmdline"] or ()):
                found.append(p)
        except psutil.Error:
            pass
    return found


# --------------------------------------------------------------------------- a topology


def readme_topology(tmp_path: Path, *, host: str = "127.0.0.1", port: int = 22, user: str = "deploy",
                    extra_defaults: str = "") -> str:
    """The README's topology.toml, with every host at ``host:port`` and paths under tmp."""
    return textwrap.dedent(f"""\
        [defaults]
        user = "{user}"
        port = {port}
        deploy_path = "{tmp_path / 'srv' / 'app'}"
        host_key_policy = "reject"      # reject | accept-new  (never silently accept)
        parallel = 10
        {extra_defaults}
        [aliases]
        stg = "staging"

        [targets.staging]
        hosts = ["stg-1"]                          # resolved via ssh_config / DNS
        deploy_path = "{tmp_path / 'srv' / 'api'}"

        [targets.web]
        hosts = [{{ name = "web-0", host = "{host}" }}]

        [targets.prod]
        hosts = [
          {{ name = "web-1", host = "{host}", roles = ["web"] }},
          {{ name = "web-2", host = "{host}", roles = ["web"] }},
          {{ name = "db-1",  host = "{host}", port = {port}, user = "{user}", roles = ["db"] }},
        ]
        """)


@pytest.fixture
def offline_topology(tetra_dir, tmp_path):
    """The README's topology, never contacted (for targets, resolve's table, completion)."""
    (tetra_dir / "topology.toml").write_text(readme_topology(tmp_path, host="10.0.0.11"))


@pytest.fixture
def ssh_topology(tetra_dir, tmp_path, env, sshd, ssh_keys):
    """The README's topology with every host on the loopback sshd; `stg-1` is
    resolved through ~/.ssh/config, as the README's comment says."""
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    extra = "\n".join([f'identity_file = "{ssh_keys.private}"', f'known_hosts = "{known}"',
                       "identities_only = true", "agent = false", "connect_retries = 0", ""])
    (tetra_dir / "topology.toml").write_text(
        readme_topology(tmp_path, port=sshd.port, user=sshd.user, extra_defaults=extra))
    ssh_dir = Path(env["HOME"]) / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    (ssh_dir / "config").write_text(f"Host stg-1\n  HostName 127.0.0.1\n  Port {sshd.port}\n")
    return sshd


# =========================================================================== A tour of the shell


def test_help_lists_commands_by_plugin_and_help_cmd_shows_usage_flags_examples(shell):
    child = shell()
    seen = run(child, "help", "core — built-in commands", "tsm — service manager",
               "help CMD' for usage")
    for group in ("deploy —", "remote —", "txn —"):
        assert group in seen
    seen = run(child, "help tsm start", r"usage: tsm start", "flags:", "--name N", "examples:",
               r"tsm start python3 -m http\.server 7777 --name web")
    child.send("\x04")
    assert exit_status(child) == 0


def test_variables_expand_in_words_and_double_quotes_and_set_defines_them(shell):
    child = shell()
    run(child, 'echo "hello $USER"', f"hello {USER}")
    run(child, "set version=2.1.0")
    run(child, "echo v$version '$version'", r"v2\.1\.0 \$version")
    run(child, 'echo "[${version}]"', r"\[2\.1\.0\]")


def test_at_local_runs_a_command_each_word_one_argument(shell):
    child = shell()
    run(child, "@local uname -a", os.uname().sysname)
    # each word is one argument, nothing is interpolated by a shell
    run(child, "@local printf '<%s>\\n' 'a b' '$(id)'", r"<a b>\r\n<\$\(id\)>")


def test_targets_and_resolve_show_the_topology(shell, offline_topology):
    child = shell()
    seen = run(child, "targets", "@prod", "db-1")
    assert "@staging" in seen and "stg-1" in seen and "web-1" in seen and "stg" in seen
    seen = run(child, "resolve @prod:web", "@prod:web", r"7\s+connector")
    levels = re.findall(r"^\s*([0-7])\s+(\w+)", seen.replace("\r", ""), re.MULTILINE)
    assert [n for n, _ in levels] == list("01234567")  # the eight levels, as a table
    assert "web-1" in seen and "web-2" in seen and "db-1" not in seen


def test_background_job_then_jobs_and_wait(shell, tmp_path):
    go = tmp_path / "go"
    child = shell()
    run(child, f"@local sh -c 'echo bg-started; until [ -e {go} ]; do sleep 0.05; done; "
               "echo bg-done' &", r"\[1\]", "bg-started")
    child.send("jobs ; wait\r")
    expect(child, r"\[1\]\s+running")  # `wait` now waits for the job
    go.touch()
    expect(child, "bg-done")
    expect(child, PROMPT)


def test_tsm_start_ls_logs_the_tours_web_server(shell, tmp_path):
    port = free_port()
    child = shell()
    run(child, f"tsm start python3 -m http.server {port} --name web",
        rf"started web-{port} \(id \d+, pid \d+, port {port}\)")
    seen = run(child, "tsm ls ; tsm logs web --lines 20", rf"web-{port}", "online",
               rf"Serving HTTP on .* port {port}")
    assert "name" in seen and "status" in seen
    child.send("tsm delete all\r")
    expect(child, rf"deleted web-{port}")


def test_txn_ls_and_status_after_a_transaction(shell, tmp_path):
    child = shell()
    tid = new_txn(child, "tour")
    run(child, "txn ls ; txn status", tid, "NEW", r"@local")
    child.send("txn events -f\r")  # follows the live transaction...
    expect(child, "txn_start")
    child.send("\x03")  # ...until Ctrl-C
    expect(child, "interrupted")
    expect(child, PROMPT)
    run(child, "txn fail 'done touring'", "FAIL")
    # the log of an ended transaction: -f stops once it has ended
    run(child, f"txn events {tid} -f", "txn_fail")


# --------------------------------------------------------------------------- completion


def last_history_entry(state_dir: Path) -> str:
    """The line most recently accepted at the prompt, from DIR/history."""
    entry = (state_dir / "history").read_text().rsplit("\n# ", 1)[-1]
    return "\n".join(line[1:] for line in entry.splitlines() if line.startswith("+"))


def complete(child: pexpect.spawn, state_dir: Path, text: str, completed: str, then: str = "",
             *shows: str) -> str:
    """Tab-complete the last word of ``text`` to ``completed``, type ``then`` and
    Enter.  The line the prompt accepted (DIR/history) must be the completed
    one: a completion menu that merely *shows* ``completed`` among others does
    not pass.  Returns what the line printed (each of ``shows`` in order)."""
    tab(child, text, completed)
    child.send(then + "\r")
    expect(child, PROMPT_DONE)
    out = ""
    for pattern in shows:
        out += expect(child, pattern) + child.after
    out += expect(child, PROMPT_AGAIN)
    expect(child, PROMPT)
    head = text.rpartition(" ")[0]
    assert last_history_entry(state_dir) == (head + " " if head else "") + completed + then
    return out


def test_tab_completes_commands_subcommands_and_flags(shell, tetra_dir):
    child = shell()
    complete(child, tetra_dir, "ech", "echo", ' com"pleted"', "completed")
    complete(child, tetra_dir, "help txn reb", "rebuild", "", "usage: txn rebuild")
    complete(child, tetra_dir, "help tsm sta", "start", "", "usage: tsm start")  # start, startup
    complete(child, tetra_dir, "tsm ls --a", "--all", "", "no processes")
    complete(child, tetra_dir, "deploy @local x --dry", "--dry-run", " --keep 2", "x")


def test_tab_completes_targets_roles_and_hosts(shell, offline_topology, tetra_dir):
    child = shell()
    tab(child, "@sta", "@staging")  # the first word: a target (its only candidate)
    clear_line(child)
    complete(child, tetra_dir, "resolve @sta", "@staging", "", r"@staging -> staging")
    complete(child, tetra_dir, "resolve @prod:w", "@prod:web", "", r"@prod:web -> prod \(2 hosts\)")
    complete(child, tetra_dir, "resolve @prod[db", "@prod[db-1]", "", r"-> prod \(1 host\)")
    # a host already picked is not offered again
    complete(child, tetra_dir, "resolve @prod[web-1,w", "@prod[web-1,web-2]", "",
             r"-> prod \(2 hosts\)")


def test_tab_completes_process_names_transaction_ids_and_paths(shell, tmp_path, tetra_dir):
    artifact(tmp_path / "build" / "api-v2.1.0.tar.gz", "2.1.0")
    port = free_port()
    child = shell()
    run(child, f"tsm start python3 -m http.server {port} --name tourweb", "started")
    tid = new_txn(child, "completion")
    complete(child, tetra_dir, "tsm describe tour", f"tourweb-{port}", "", f"tourweb-{port}")
    complete(child, tetra_dir, "txn show compl", tid, "", tid)
    complete(child, tetra_dir, "deploy @local build/ap", "build/api-v2.1.0.tar.gz", " --dry-run",
             "dry run")
    run(child, "txn fail 'completed'", "FAIL")
    run(child, "tsm delete all", f"deleted tourweb-{port}")


# --------------------------------------------------------------------------- history


def test_history_suggestion_and_ctrl_r(shell, tetra_dir, env):
    env.pop("NO_COLOR")
    child = shell()
    run(child, 'echo sugg"est"ed', "suggested")
    child.send("echo sug")
    # the rest of the history line, grey (a 256-colour grey, or bright black)
    expect(child, r"\x1b\[[0-9;]*(38;5;(2[3-5][0-9]|8|59|10[12]|14[45])|90)m" + re.escape('g"est"ed'))
    child.send("\x1b[C")  # Right accepts the suggestion
    child.send("\r")
    expect(child, "suggested")
    expect(child, PROMPT)
    run(child, "echo other", "other")
    child.send("\x12sugg")  # Ctrl-R: reverse search
    expect(child, r'reverse-i-search.*sugg.*est.*ed')  # the match, highlighted
    child.send("\r")  # runs the line found, as in bash
    expect(child, "suggested")
    expect(child, PROMPT)
    assert 'echo sugg"est"ed' in (tetra_dir / "history").read_text()


# --------------------------------------------------------------------------- toolbar, Ctrl-C, Ctrl-D


def test_toolbar_shows_the_active_transaction_its_stage_and_running_jobs(shell, tmp_path):
    go = tmp_path / "go"
    child = shell()
    tid = new_txn(child, "bar")
    expect(child, rf"txn {tid} NEW")
    child.send("\r")  # the prompt names the transaction's target
    expect(child, r"tetra(\x1b\[[0-9;]*m| )*@local(\x1b\[[0-9;]*m| )*▸")
    child.send(f"@local sh -c 'until [ -e {go} ]; do sleep 0.05; done' &\r")
    expect(child, r"1 job: \[1\] @local sh")
    child.send("txn resolve\r")
    expect(child, rf"txn {tid} ASSEMBLE")
    go.touch()  # the job ends: the toolbar drops it without a key press
    expect(child, r"\[1\] done")
    expect(child, rf"txn {tid} ASSEMBLE\s*(\x1b\[[0-9;]*m)*\r")
    child.send("txn fail 'bar closed'\r")
    expect(child, rf"txn {tid} FAIL")


def test_ctrl_c_interrupts_a_local_command_and_returns_to_the_prompt(shell):
    marker = "61.73"
    child = shell()
    child.send(f"@local sh -c 'echo go\"\"ing; sleep {marker}'\r")
    expect(child, "going")  # printed, not echoed
    child.send("\x03")
    expect(child, "interrupted")
    expect(child, PROMPT)
    run(child, 'echo a"live"', "alive")
    assert alive_with(marker) == []
    child.send("\x04")
    assert exit_status(child) == 0


def test_ctrl_d_exits_and_with_a_job_running_warns_once_then_cancels(shell):
    marker = "62.71"
    child = shell()
    child.send("\x04")
    assert exit_status(child) == 0

    child = shell()
    child.send(f"@local sh -c 'echo sta\"\"rted; sleep {marker}' &\r")
    expect(child, "started")  # printed, not echoed
    child.send("\x04")
    expect(child, "1 job running; Ctrl-D again to cancel it")
    expect(child, PROMPT)
    child.send("\x04")
    assert exit_status(child) == 0
    assert alive_with(marker) == []


# --------------------------------------------------------------------------- over SSH


@pytest.mark.ssh
def test_tour_on_ssh_targets(shell, ssh_topology, tmp_path, tetra_dir):
    sshd = ssh_topology
    artifact(tmp_path / "build" / "api-v2.1.0.tar.gz", "2.1.0")
    child = shell()
    seen = run(child, "@web printf '%s\\n' '$(id)'", re.escape("$(id)"))
    assert "uid=" not in seen  # nothing is interpolated remotely
    home_len = len(pwd.getpwnam(sshd.user).pw_dir) + 1  # the remote shell's $HOME, not ours
    run(child, "@web sh -c 'echo $HOME | wc -c'", rf"(?<![0-9]){home_len}\r\n")
    run(child, "targets", "@staging")
    run(child, "resolve @prod:web", r"7\s+connector\s+web-1")

    seen = run(child, "deploy @staging build/api-v2.1.0.tar.gz --dry-run", "dry run")
    assert not (tmp_path / "srv" / "api" / "current").exists()
    run(child, "deploy @staging build/api-v2.1.0.tar.gz &", r"\[1\]")
    run(child, "jobs ; wait", r"\[1\] done: deploy @staging")
    assert (tmp_path / "srv" / "api" / "current" / "index.html").read_text() == "2.1.0"
    seen = run(child, "txn ls ; txn status", "DONE", "DONE")
    assert "@staging" in seen
    child.send("\x04")
    assert exit_status(child) == 0


@pytest.mark.ssh
def test_ctrl_c_interrupts_a_remote_command_remote_side_included(shell, ssh_topology):
    marker = "63.79"
    child = shell()
    child.send(f"@web sh -c 'echo remote-go\"\"ing; sleep {marker}'\r")
    expect(child, "remote-going")  # printed, not echoed
    child.send("\x03")
    expect(child, "interrupted")
    expect(child, PROMPT)
    run(child, 'echo a"live"', "alive")
    child.send("\x04")
    assert exit_status(child) == 0
    # the sshd side is ended by tetra, not by the test: give it the time a signal takes
    deadline = time.monotonic() + 5
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(marker) == []


@pytest.mark.ssh
def test_topology_role_and_host_selection(tetra_c, ssh_topology):
    r = tetra_c("-c", "@prod:web uptime")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    # output prefixed by host, then a per-host summary
    assert re.search(r"^web-1 \|.*load average", out, re.MULTILINE)
    assert re.search(r"^web-2 \|.*load average", out, re.MULTILINE)
    assert "2 hosts: 2 ok, 0 failed" in out and "db-1" not in out
    r = tetra_c("-c", "@prod[db-1] sh -c 'echo picked'")
    assert r.returncode == 0 and "picked" in r.stdout and "web-1" not in r.stdout + r.stderr
    r = tetra_c("-c", "@prod sh -c 'test $0 = sh; exit 3'")  # non-zero if any failed
    assert r.returncode != 0 and "3 hosts: 0 ok, 3 failed" in r.stdout + r.stderr


# =========================================================================== other ways in


def test_other_ways_in_share_one_parser(tetra_c, tmp_path, env):
    r = tetra_c("-c", "tsm ls; txn ls")
    assert r.returncode == 0, r.stderr
    script = tmp_path / "deploy.tetra"
    script.write_text("set v=1\necho script $v\n")
    r = tetra_c(str(script))
    assert (r.returncode, r.stdout) == (0, "script 1\n")
    r = tetra_c(input="echo piped\nhelp tsm ls\n", env={"NO_COLOR": None})
    assert r.returncode == 0 and r.stdout.startswith("piped\nusage: tsm ls")
    assert "\x1b" not in r.stdout + r.stderr and PROMPT not in r.stdout  # no prompt, no colour
    r = tetra_c("echo", "two words")
    assert (r.returncode, r.stdout) == (0, "two words\n")
    r = subprocess.run([sys.executable, "-m", "tetra_repl", "-c", "echo module"],
                       check=False, capture_output=True, text=True, env=env, timeout=60,
                       cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "module\n")
    r = tetra_c("--version")
    assert r.returncode == 0 and r.stdout.strip()


def test_script_errors_and_exit_statuses(tetra_c, tmp_path):
    script = tmp_path / "s.tetra"
    script.write_text("echo one\n@local false\necho three\n")
    r = tetra_c(str(script))
    assert r.returncode == 1 and r.stdout == "one\n"
    assert r.stderr.startswith("tetra: line 2: ")
    r = tetra_c("--keep-going", str(script))
    assert r.returncode == 1 and r.stdout == "one\nthree\n"
    script.write_text("echo one\necho $nope\n")  # an unknown variable: a usage error
    r = tetra_c(str(script))
    assert r.returncode == 2 and r.stderr.startswith("tetra: line 2: unknown variable $nope")
    assert tetra_c("-c", 'echo "open').returncode == 2  # parse error
    assert tetra_c("--no-such-option").returncode == 2  # usage errors...
    for line in ("tsm logs --lines", "tsm ls --bogus", "deplyo x", "resolve", "X=5"):
        r = tetra_c("-c", line)  # ...unknown command or flag, missing argument...
        assert r.returncode == 2 and r.stderr.startswith("tetra: line 1: "), (line, r.stderr)


def test_ctrl_c_in_a_script_exits_130(env, tmp_path):
    child = pexpect.spawn(TETRA, ["-c", "echo ready; @local sleep 64.81"], env=env,
                          encoding="utf-8", timeout=20, cwd=str(tmp_path))
    try:
        child.expect("ready")
        child.sendintr()
        assert exit_status(child) == 130
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_global_options(tetra_c, tmp_path, offline_topology, tetra_dir):
    other = tmp_path / "other-dir"
    r = tetra_c("--dir", str(other), "-c", "txn new x @local")
    assert r.returncode == 0, r.stderr
    assert list(other.rglob("state.json"))
    topo = tmp_path / "t.json"
    topo.write_text(json.dumps({"targets": {"solo": {"hosts": ["solo-1"]}}}))
    r = tetra_c("--topology", str(topo), "-c", "targets")
    assert r.returncode == 0 and "@solo" in r.stdout and "@prod" not in r.stdout
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host bastion\n  HostName 10.9.9.9\n")
    r = tetra_c("--ssh-config", str(ssh_config), "-c", "resolve @bastion")
    assert r.returncode == 0 and "10.9.9.9" in r.stdout, r.stderr
    r = tetra_c("--json", "-c", "tsm ls")
    assert r.returncode == 0
    json.loads(r.stdout)


# =========================================================================== the language


@pytest.mark.parametrize("line, printed", [
    ("echo a#b", "a"),
    ("echo 'a#b'", "a#b"),
    ('echo --name="a b"', "--name=a b"),
    ('set HOME=/h; echo "$HOME"/bin', "/h/bin"),
    ("echo '--x'", "--x"),
    ("echo one; echo two # comment", "one\ntwo"),
    ("set X=5; echo $X ${X}", "5 5"),
    ("echo x; echo $?", "x\n0"),
    ("echo '$HOME'", "$HOME"),
])
def test_the_language_as_the_readme_states_it(tetra_c, line, printed):
    r = tetra_c("-c", line)
    assert (r.returncode, r.stdout, r.stderr) == (0, printed + "\n", "")


def test_an_unknown_variable_is_an_error_not_an_empty_string(tetra_c):
    r = tetra_c("-c", "echo [$nope]")
    assert r.returncode == 2 and r.stdout == "" and "nope" in r.stderr


def test_everything_after_double_dash_is_passed_through(tetra_c):
    r = tetra_c("-c", "exec @local -- printf '%s|' --flag @x $USER")
    assert (r.returncode, r.stdout) == (0, f"--flag|@x|{USER}|"), r.stderr


def test_a_trailing_ampersand_runs_in_the_background(tetra_c):
    r = tetra_c("-c", "@local sh -c 'echo late' & ; echo first ; wait")
    assert r.returncode == 0, r.stderr
    assert r.stdout.index("first") < r.stdout.index("late")


# =========================================================================== plugins


def test_the_readme_plugin_works_with_help_and_completion(tetra_c, tetra_dir, shell):
    install_plugin(tetra_dir, "hello", readme_block("Plugins", "python"))
    install_plugin(tetra_dir, "broken", "raise RuntimeError('nope')\n")
    r = tetra_c("-c", "hello world -n 2; hello")
    assert r.returncode == 0 and r.stdout == "hello world\nhello world\nhello world\n"
    assert r.stderr.count("failed to load") == 1  # one warning
    r = tetra_c("-c", "help hello")
    assert "usage: hello" in r.stdout and "--times" in r.stdout and "hello world -n 2" in r.stdout
    r = tetra_c("-c", "help")
    assert "hello — says hello" in r.stdout
    r = tetra_c("-c", "plugins")
    assert "hello" in r.stdout and "broken" in r.stdout + r.stderr
    r = tetra_c("-c", "hello -n x")
    assert r.returncode == 2
    child = shell()
    tab(child, "hello --ti", "--times")


# =========================================================================== the README's own text


def test_every_command_of_the_tour_exists_and_has_help(tetra_c):
    lines = [line.split("▸", 1)[1] for line in readme_block("A tour of the shell").splitlines()
             if "▸" in line]
    assert len(lines) >= 14
    commands = set()
    for line in lines:
        line = re.sub(r"\s#.*", "", line).rstrip(" &")
        for statement in line.split(";"):
            words = statement.split()
            if words[0].startswith("@"):
                continue  # `@target CMD…` runs CMD on the target
            commands.add(" ".join(words[:2]) if words[0] in ("tsm", "txn") else words[0])
    assert {"help", "echo", "set", "targets", "resolve", "deploy", "jobs", "wait", "txn ls",
            "txn status", "txn events", "tsm start", "tsm ls", "tsm logs"} <= commands
    for command in sorted(commands):
        r = tetra_c("-c", f"help {command}")
        assert r.returncode == 0 and f"usage: {command}" in r.stdout, (command, r.stderr)


def test_the_readme_topology_loads_as_written_in_toml_and_in_json(tetra_c, tetra_dir, tmp_path):
    import tomllib

    toml_text = readme_block("A topology", "toml")
    (tetra_dir / "topology.toml").write_text(toml_text)
    r = tetra_c("-c", "targets")
    assert r.returncode == 0, r.stderr
    for name in ("@staging", "@prod", "stg-1", "web-1", "web-2", "db-1", "@stg -> staging"):
        assert name in r.stdout, name
    r = tetra_c("-c", "resolve @prod[db-1]")
    assert r.returncode == 0, r.stderr
    assert "10.0.0.21:2222" in r.stdout and "user ops" in r.stdout and "web-1" not in r.stdout
    r = tetra_c("-c", "resolve @stg")
    assert r.returncode == 0 and "staging" in r.stdout and "/srv/api" in r.stdout
    as_json = tmp_path / "topology.json"
    as_json.write_text(json.dumps(tomllib.loads(toml_text)))
    r = tetra_c("--topology", str(as_json), "-c", "resolve @prod:web")
    assert r.returncode == 0 and "web-1" in r.stdout and "db-1" not in r.stdout, r.stderr
