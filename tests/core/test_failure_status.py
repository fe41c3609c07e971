"""A failure is never lost: --keep-going's exit status (SPEC 2) and a failed
background job's reason and status, through the real `tetra` entry point."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("script, message", [
    ("@local false; exit", "tetra: line 1: exec failed (exit status 1)"),
    ("bogus; exit 0", "tetra: line 1: unknown command 'bogus'"),
    ("bogus\necho end\nexit", "tetra: line 1: unknown command 'bogus'"),
])
def test_keep_going_exit_after_a_failed_statement_exits_1(tetra, script, message):
    r = tetra("--keep-going", "-c", script)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(message), r.stderr


def test_keep_going_exit_n_keeps_its_own_status_after_a_failure(tetra):
    r = tetra("--keep-going", "-c", "@local false; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("tetra: line 1: exec failed (exit status 1)"), r.stderr


def test_keep_going_exit_with_nothing_failed_exits_0(tetra):
    r = tetra("--keep-going", "-c", "echo a; exit")
    assert (r.returncode, r.stdout, r.stderr) == (0, "a\n", "")


def test_without_keep_going_the_failure_stops_before_exit(tetra):
    r = tetra("-c", "@local false; exit 0")
    assert r.returncode == 1
    assert r.stderr == "tetra: line 1: exec failed (exit status 1)\n"


def test_a_failed_background_job_says_why_and_wait_gives_its_status(tetra):
    job = '@local sh -c "sleep 0.3; exit 4" &'
    r = tetra("-c", f"{job}\nwait; echo $?")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [f"[1] started: {job}",
                                     f"[1] failed: {job} — exit status 4",
                                     "tetra: line 2: wait failed (exit status 4)"]


def test_wait_for_one_job_or_all_returns_a_failed_jobs_own_status(tetra):
    r = tetra("--keep-going", "-c",
              "@local sh -c 'exit 4' &\n@local true &\nwait 2; echo $?\nwait 1; echo $?\n"
              "wait; echo $?")
    assert r.returncode == 1
    assert r.stdout == "0\n4\n4\n"
    assert "[1] failed: @local sh -c 'exit 4' & — exit status 4" in r.stderr.splitlines()
    assert "[2] done: @local true &" in r.stderr.splitlines()
    assert "tetra: line 4: wait failed (exit status 4)" in r.stderr


def test_a_background_job_that_raises_keeps_its_message(tetra):
    r = tetra("-c", "wait --timeout 1 9 &\nwait")
    assert r.returncode == 1
    assert "[1] failed: wait --timeout 1 9 & — wait: no job 9" in r.stderr.splitlines()
    assert "tetra: line 2: wait failed (exit status 2)" in r.stderr


def test_a_script_that_stops_on_a_failure_still_lets_its_background_jobs_finish(tetra, tmp_path):
    """Work handed off is never dropped: the job completes, the status stays the failure's."""
    out = tmp_path / "job.out"
    job = f"@local sh -c 'sleep 0.5; echo finished > {out}' &"
    r = tetra("-c", f"{job}\nbogus\necho never")
    assert r.returncode == 2  # the unknown command's own status
    assert r.stdout == ""
    assert out.read_text() == "finished\n"
    assert r.stderr.splitlines() == [
        f"[1] started: {job}",
        "tetra: line 2: unknown command 'bogus'",
        "  hint: type 'help' to list commands",
        "tetra: waiting for the background jobs still running (Ctrl-C cancels them)",
        f"[1] done: {job}"], r.stderr
