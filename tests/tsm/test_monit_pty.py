"""`tsm monit` in the interactive shell refreshes until Ctrl-C, then the prompt returns."""

from __future__ import annotations

import pexpect
from tsm_helpers import TETRA

PROMPT = "▸"


def test_monit_refreshes_live_until_ctrl_c(tsm, tetra_env):
    tsm("start", "--name", "watched", "--", "sleep", "120")
    env = {**tetra_env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    child = pexpect.spawn(TETRA, [], env=env, encoding="utf-8", dimensions=(24, 120), timeout=15)
    try:
        child.expect(PROMPT)
        child.send("tsm monit --interval 0.2\r")
        for _ in range(3):  # several refreshes, each a full table
            child.expect("watched")
            child.expect(r"Ctrl-C to leave")
        child.send("\x03")
        child.expect(PROMPT)
        child.send('echo back"-at"-prompt\r')
        child.expect("back-at-prompt")
    finally:
        child.terminate(force=True)
