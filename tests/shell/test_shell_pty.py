"""The interactive shell for real: the `tetra` entry point in a pseudo-terminal.

The checks look for what a command *prints* (``AB"CD"`` typed, ``ABCD``
printed), never for the echoed keystrokes: prompt_toolkit redraws only what
changed, so typed text reaches the pty in pieces.
"""

from __future__ import annotations

import re
import textwrap

import pexpect
import pytest

from tetra_testing import TETRA

PROMPT = "▸"
CPR_REQUEST = re.escape("\x1b[6n")
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

    @plugin.command("slow stage", help="after a while, move to another stage (in the toolbar)",
                    params=[Param("seconds", type="float"), Param("stage")])
    def stage_later(ctx, args):
        time.sleep(args.seconds)
        ctx.session.vars["stage"] = args.stage
        ctx.bus.publish("txn.stage_changed", {"stage": args.stage})

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

    def spawn(*args: str, color: bool = False) -> pexpect.spawn:
        env = {**tetra_env, "TERM": "xterm"}
        if color:
            env.pop("NO_COLOR", None)
        child = pexpect.spawn(TETRA, list(args), env=env, encoding="utf-8", dimensions=(24, 100),
                              timeout=15)
        children.append(child)
        expect(child, PROMPT)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def expect(child: pexpect.spawn, pattern: str) -> str:
    """``child.expect(pattern)``, answering the cursor-position requests on the way.

    prompt_toolkit shows the bottom toolbar only once the terminal has told it
    where the cursor is, as a real terminal does.  Returns all the text seen
    before the match.
    """
    seen = ""
    while child.expect([CPR_REQUEST, pattern]) == 0:
        seen += child.before + child.after
        child.send("\x1b[1;1R")
    return seen + child.before


def tab(child: pexpect.spawn, text: str, completed: str) -> None:
    """Type ``text``, wait until it shows, press Tab, wait for ``completed`` to show.

    Completion runs as a background task of the prompt: keys that arrive in
    the same read as the Tab would change the line before it lands.
    """
    child.send(text)
    expect(child, re.escape(text))
    child.send("\t")
    expect(child, re.escape(completed))


def run(child: pexpect.spawn, line: str, shows: str) -> None:
    child.send(line + "\r")
    expect(child, shows)
    expect(child, PROMPT)


def exit_status(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_tab_completes_a_command(shell):
    child = shell()
    tab(child, "ech", "o")
    run(child, ' AB"CD"', "ABCD")


def test_tab_completes_a_group_subcommand(shell):
    child = shell()
    tab(child, "slow sl", "eep")
    run(child, " 0", "sleep-finished")


def test_tab_completes_a_flag(shell):
    child = shell()
    tab(child, "wait --ti", "meout")
    child.send(" 5\r")
    expect(child, PROMPT)
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
    expect(second, "history-one")
    expect(second, PROMPT)
    run(second, "echo other", "other")
    second.send("\x12hist")  # Ctrl-R: reverse search
    second.send("\r")  # Enter runs the line found, as in bash
    expect(second, "history-one")
    expect(second, PROMPT)
    run(second, "echo after", "after")


def test_ctrl_c_at_the_prompt_clears_the_line_and_keeps_the_shell(shell):
    child = shell()
    child.send('echo never"printed"')
    child.send("\x03")
    expect(child, PROMPT)
    run(child, 'echo still"here"', "stillhere")
    assert "neverprinted" not in child.before
    child.send("exit\r")
    assert exit_status(child) == 0


def test_ctrl_c_interrupts_a_running_command(shell):
    child = shell()
    child.send("slow sleep 30\r")
    expect(child, "sleep-started")
    child.send("\x03")
    expect(child, "interrupted")
    expect(child, PROMPT)
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
    expect(child, r"\[1\] started")
    expect(child, PROMPT)
    child.send("\x04")
    expect(child, "1 job running; Ctrl-D again to cancel it")
    expect(child, PROMPT)
    child.send("\x04")
    expect(child, "sleep-cancelled")
    assert exit_status(child) == 0


def test_prompt_and_toolbar_show_plugin_providers(shell):
    child = shell()
    # typed with quotes, so only the prompt and the toolbar show the joined text
    child.send('set where="@stag"ing\r')
    expect(child, r"tetra(\x1b\[[0-9;]*m| )*@staging(\x1b\[[0-9;]*m| )*▸")  # the prompt names the target
    child.send('set stage=EXEC"UTE"\r')
    expect(child, "stage=EXECUTE")


def test_toolbar_follows_a_background_job_without_a_key_press(shell):
    child = shell()
    child.send('slow stage 0.3 VAL"IDATE" &\r')
    expect(child, PROMPT)
    expect(child, "stage=VALIDATE")


GREEN_QUOTE = r'\x1b\[[0-9;]*32m"'  # a string's opening quote, coloured


def test_live_highlighting_on_a_colour_terminal(shell):
    child = shell(color=True)
    child.send('echo "x')
    expect(child, GREEN_QUOTE)


def test_no_colour_with_no_color_flag(shell):
    child = shell("--no-color", color=True)
    child.send('echo "x"y\r')
    assert not re.search(GREEN_QUOTE, expect(child, "xy"))


def test_an_open_quote_continues_on_the_next_line(shell):
    child = shell()
    child.send('echo "one\r')
    child.send('two"\r')
    expect(child, "one\r\ntwo")



def test_ctrl_d_in_an_open_quote_drops_the_statement_and_keeps_the_shell(shell):
    """As bash: end of input inside a quote cannot finish the statement."""
    child = shell()
    child.send("echo 'never" + 'printed\r')
    expect(child, "…")  # the continuation line
    child.send("\x04")
    expect(child, "unterminated input discarded")
    expect(child, PROMPT)
    run(child, 'echo still"here"', "stillhere")
    assert "neverprinted" not in child.before
    child.send("\x04")
    assert exit_status(child) == 0

def test_second_ctrl_d_ends_a_background_command_on_a_target(shell):
    import psutil

    marker = "57.31"
    child = shell()
    child.send(f"@local sh -c 'echo started; sleep {marker}' &\r")
    expect(child, "started")
    child.send("\x04")
    expect(child, "1 job running; Ctrl-D again to cancel it")
    child.send("\x04")
    assert exit_status(child) == 0
    left = [p.pid for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and p.info["cmdline"][-1:] == [marker]]
    assert left == []


def test_a_full_disk_under_the_history_warns_once_and_the_shell_goes_on(shell, tetra_dir):
    import os

    child = shell()
    history = tetra_dir / "history"
    history.unlink()
    os.symlink("/dev/full", history)  # every write now fails with ENOSPC
    child.send('echo fi"rst"\r')
    seen = expect(child, "first")
    expect(child, PROMPT)
    child.send('echo sec"ond"\r')
    seen += expect(child, "second")
    expect(child, PROMPT)
    assert seen.count("history is not saved") == 1
    assert "No space left on device" in seen
    assert "Traceback" not in seen and "Press ENTER" not in seen
    child.send("\x04")
    assert exit_status(child) == 0


def test_sigterm_ends_the_shell_with_143_and_its_background_jobs(shell):
    import os
    import signal

    import psutil

    from tetra_testing import wait_for

    def sleepers():
        return [p for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] == ["sleep", "31.93"]]

    child = shell()
    child.send("@local sleep 31.93 &\r")
    wait_for(sleepers)
    os.kill(child.pid, signal.SIGTERM)
    assert exit_status(child) == 143
    wait_for(lambda: not sleepers())
