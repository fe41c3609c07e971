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
