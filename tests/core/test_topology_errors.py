"""A broken topology names the file, the line and the key path (SPEC 5, 10),
through the real `tetra` entry point."""

from __future__ import annotations

import json

import pytest


def first_line(tetra, tetra_dir, name: str, body: str):
    path = tetra_dir / name
    path.write_text(body)
    r = tetra("-c", "targets")
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stderr
    return path, r.stderr.splitlines()[0]


@pytest.mark.parametrize("body, expected", [
    # the third host's port, not the first
    ('[targets.a]\nhosts = [\n  { name = "h1", port = 1 },\n  { name = "h2", port = 2 },\n'
     '  { name = "h3", port = "x" },\n]\n',
     ":5: targets.a.hosts[2].port: expected an integer, got 'x'"),
    # a repeated host name: the line of the repeat
    ('[targets.a]\nhosts = [\n  "x",\n  "y",\n  "x",\n]\n',
     ":5: targets.a.hosts[2]: duplicate host name 'x' (also hosts[0])"),
    ('[targets.a]\nhosts = ["a",\n 1,]\n',
     ":3: targets.a.hosts[1]: expected a host name or a table, got a number (1)"),
    # the target's own port, after a host entry with one
    ('[targets.a]\nhosts = [{ name = "x", port = 2222 }]\nport = "x"\n',
     ":3: targets.a.port: expected an integer, got 'x'"),
    # arrays of tables
    ('[targets.a]\n[[targets.a.hosts]]\nname = "x"\n[[targets.a.hosts]]\nname = "y"\n'
     'port = "p"\n',
     ":6: targets.a.hosts[1].port: expected an integer, got 'p'"),
    # a key that is not in the file: the line of its table
    ('[defaults]\nport = 22\n\n[targets.a]\nuser = "x"\n', ":4: targets.a: missing key 'hosts'"),
    # strings over several lines and comments do not throw the count off
    ('[defaults] # port = 1\nuser = """a\nport = 2\n"""\n[targets.a]\nhosts = ["x"] # [y]\n'
     'port = "z"\n',
     ":7: targets.a.port: expected an integer, got 'z'"),
])
def test_toml_errors_name_the_line_of_the_key(tetra, tetra_dir, body, expected):
    path, line = first_line(tetra, tetra_dir, "topology.toml", body)
    assert line == f"tetra: line 1: {path}{expected}"


def test_json_errors_name_the_line_of_the_key(tetra, tetra_dir):
    body = json.dumps({"targets": {"a": {"hosts": [{"name": "x", "port": 1},
                                                   {"name": "y", "port": "q"}]}}}, indent=1)
    path, line = first_line(tetra, tetra_dir, "topology.json", body)
    expected = [n for n, text in enumerate(body.splitlines(), 1) if '"q"' in text][0]
    assert line == f"tetra: line 1: {path}:{expected}: targets.a.hosts[1].port: " \
                   "expected an integer, got 'q'"


def test_json_refuses_a_key_given_twice(tetra, tetra_dir):
    body = ('{"targets": {\n  "prod": {"hosts": ["a"]},\n  "prod": {"hosts": ["b"]}\n}}\n')
    path, line = first_line(tetra, tetra_dir, "topology.json", body)
    assert line == f"tetra: line 1: {path}:3: targets.prod: duplicate key (also line 2)"


@pytest.mark.parametrize("body, expected", [
    ('[defaults]\nport = 70000\n', ":2: defaults.port: must be at most 65535 (got 70000)"),
    ('[defaults]\nport = 0\n', ":2: defaults.port: must be at least 1 (got 0)"),
    ('[targets.a]\nhosts = ["x"]\ntimeout = 0\n',
     ":3: targets.a.timeout: must be more than 0 (got 0)"),
    ('[targets.a]\nhosts = [{ name = "x", connect_timeout = 0 }]\n',
     ":2: targets.a.hosts[0].connect_timeout: must be at least 0.1 (got 0)"),
])
def test_settings_out_of_range_are_refused_at_load(tetra, tetra_dir, body, expected):
    path, line = first_line(tetra, tetra_dir, "topology.toml", body)
    assert line == f"tetra: line 1: {path}{expected}"


@pytest.mark.parametrize("body, expected", [
    ('[aliases]\na = "prod:"\n',
     ":2: aliases.a: invalid target '@prod:': expected a role name after ':'"),
    ('[aliases]\na = "prod web"\n',
     ":2: aliases.a: invalid target '@prod web': unexpected ' ', expected ':role', "
     "'[hosts]' or the end of the target"),
    ('[aliases]\n"a b" = "prod"\n',
     ":2: aliases.a b: an alias cannot be named 'a b': invalid target '@a b': unexpected ' ', "
     "expected ':role', '[hosts]' or the end of the target"),
    ('[aliases]\n"p:web" = "prod"\n',
     ":2: aliases.p:web: an alias cannot be named 'p:web': '@p:web' is not read as one name"),
    ('[targets."9x"]\nhosts = ["a"]\n',
     ":1: targets.9x: a target cannot be named '9x': invalid target '@9x': "
     "expected a target name after '@'"),
    ('[targets.a]\nhosts = [\n  "ok",\n  "a,b",\n]\n',
     ":4: targets.a.hosts[1]: host name 'a,b' cannot be selected as @target[a,b]"),
    ('[targets.a]\nhosts = [\n  { name = "c]", host = "10.0.0.1" },\n]\n',
     ":3: targets.a.hosts[0].name: host name 'c]' cannot be selected as @target[c]]"),
])
def test_names_that_cannot_be_written_as_targets_are_refused_at_load(tetra, tetra_dir, body,
                                                                    expected):
    path, line = first_line(tetra, tetra_dir, "topology.toml", body)
    assert line == f"tetra: line 1: {path}{expected}"


def test_alias_values_may_carry_a_role_and_selector(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text(
        '[aliases]\nw = "@prod:web"\nfirst = "prod[0]"\n\n[targets.prod]\n'
        'hosts = [{ name = "w1", host = "10.0.0.1", roles = ["web"] }, "d1"]\n')
    r = tetra("-c", "resolve @first --json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["levels"][3]["selected"] == ["w1"]


@pytest.mark.parametrize("symbol, expected", [
    ("@prod[5]", ["tetra: line 1: @prod[5]: index 5 is out of range (3 hosts)",
                  "  hint: indexes of prod: 0..2; hosts: w1, d1, d2"]),
    ("@prod:web[-2]", ["tetra: line 1: @prod:web[-2]: index -2 is out of range (1 host)",
                       "  hint: indexes of prod:web: 0; hosts: w1"]),
])
def test_an_index_out_of_range_names_the_valid_ones(tetra, tetra_dir, symbol, expected):
    (tetra_dir / "topology.toml").write_text(
        '[targets.prod]\nhosts = [{ name = "w1", roles = ["web"] }, "d1", "d2"]\n')
    r = tetra("-c", f"{symbol} hostname")
    assert r.returncode == 1
    assert r.stderr.splitlines() == expected
