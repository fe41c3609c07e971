"""The interactive shell for real: the `tetra` entry point in a pseudo-terminal.

The checks look for what a command *prints* (``AB"CD"`` typed, ``ABCD``
printed), never for the echoed keystrokes: prompt_toolkit redraws only what
changed, so typed text reaches the pty in pieces.
"""

from __future__ import annotations

import textwrap

import pexpect
import pytest

from conftest import TETRA

PROMPT = "▸"
SLOW_PLUGIN = textwrap.dedent('''
    import time
    from tetra_repl.plugin import Param, Plugin

    plugin = Plugin("slow", help="sleeps, for the shell tests")
    plugin.group("slow", "commands that take their time")

    @plugin.command("slow sleep", help="sleep, polling for cancellation",
                    params=[Param("seconds", type="float")])
    def sleep(ctx, args):
        ctx.out("sleep-" + "started")
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            if ctx.session.jobs.current_cancelled():
                ctx.out("sleep-" + "cancelled")
                return 1
            time.sleep(0.02)
        ctx.out("sleep-" + "finished")

    @plugin.prompt
    def where(session):
        return session.vars.get("where")

    @plugin.toolbar
    def stage(session):
        return "stage=" + session.vars.get("stage", "none")
''')


@pytest.fixture
def shell(tetra_env, tetra_dir):
    """``shell()`` spawns `tetra` on a pty with DIR/plugins/slow.py installed."""
    (tetra_dir / "plugins").mkdir(exist_ok=True)
    (tetra_dir / "plugins" / "slow.py").write_text(SLOW_PLUGIN)
    children: list[pexpect.spawn] = []

    def spawn() -> pexpect.spawn:
        # no cursor-position requests: a pty answers none, and waiting for one costs seconds
        env = {**tetra_env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
        child = pexpect.spawn(TETRA, [], env=env, encoding="utf-8", dimensions=(24, 100),
                              timeout=15)
        children.append(child)
        child.expect(PROMPT)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def run(child: pexpect.spawn, line: str, expect: str) -> None:
    child.send(line + "\r")
    child.expect(expect)
    child.expect(PROMPT)


def exit_status(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_tab_completes_a_command(shell):
    child = shell()
    child.send("ech\t")
    run(child, ' AB"CD"', "ABCD")


def test_tab_completes_a_group_subcommand(shell):
    child = shell()
    child.send("slow sl\t")
    run(child, " 0", "sleep-finished")


def test_tab_completes_a_flag(shell):
    child = shell()
    child.send("wait --ti\t")
    child.send(" 5\r")
    child.expect(PROMPT)
    # `wait --ti 5` would be an unknown flag (status 2); completed, it succeeds
    run(child, 'echo X"$?"Y', "X0Y")


def test_history_persists_across_sessions(shell, tetra_dir):
    first = shell()
    run(first, 'echo hist"ory"-one', "history-one")
    first.send("\x04")  # Ctrl-D, so the last history line is the echo
    assert exit_status(first) == 0
    assert 'echo hist"ory"-one' in (tetra_dir / "history").read_text()

    second = shell()
    second.send("\x1b[A")  # Up arrow recalls the last line
    second.send("\r")
    second.expect("history-one")
    second.expect(PROMPT)
    run(second, "echo other", "other")
    second.send("\x12hist")  # Ctrl-R: reverse search
    second.send("\r")  # the first Enter ends the search, the line found is in the buffer
    second.send("\r")
    second.expect("history-one")


def test_ctrl_c_at_the_prompt_clears_the_line_and_keeps_the_shell(shell):
    child = shell()
    child.send('echo never"printed"')
    child.send("\x03")
    child.expect(PROMPT)
    run(child, 'echo still"here"', "stillhere")
    assert "neverprinted" not in child.before
    child.send("exit\r")
    assert exit_status(child) == 0


def test_ctrl_c_interrupts_a_running_command(shell):
    child = shell()
    child.send("slow sleep 30\r")
    child.expect("sleep-started")
    child.send("\x03")
    child.expect("interrupted")
    child.expect(PROMPT)
    run(child, 'echo a"live"', "alive")
    child.send("\x04")
    assert exit_status(child) == 0


def test_ctrl_d_exits_with_status_0(shell):
    child = shell()
    child.send("\x04")
    assert exit_status(child) == 0


def test_exit_with_a_status(shell):
    child = shell()
    child.send("exit 3\r")
    assert exit_status(child) == 3


def test_ctrl_d_with_running_jobs_warns_then_cancels(shell):
    child = shell()
    child.send("slow sleep 30 &\r")
    child.expect(r"\[1\] started")
    child.expect(PROMPT)
    child.send("\x04")
    child.expect("1 job running; Ctrl-D again to cancel it")
    child.expect(PROMPT)
    child.send("\x04")
    child.expect("sleep-cancelled")
    assert exit_status(child) == 0


def test_prompt_and_toolbar_show_plugin_providers(shell):
    child = shell()
    child.send("set where=@staging\r")
    child.expect("@staging")  # the prompt now names the target
    child.expect(PROMPT)
    child.send("set stage=EXECUTE\r")
    child.expect("stage=EXECUTE")


def test_an_open_quote_continues_on_the_next_line(shell):
    child = shell()
    child.send('echo "one\r')
    child.send('two"\r')
    child.expect("one\r\ntwo")
