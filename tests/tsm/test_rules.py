"""The pure rules: names and ports (SPEC 8 examples), flag placement, env files, rotation."""

from __future__ import annotations

import pytest
from tetra_plugins.tsm import envfile
from tetra_plugins.tsm.commands import split_trailing
from tetra_plugins.tsm.launch import StartRequest, analyse, derive_name, discover_port
from tetra_plugins.tsm.logfile import LineSplitter, RotatingLog
from tetra_plugins.tsm.store import check_name, sanitize

from tetra_repl.errors import UsageError


def _name_and_port(command, cwd, **flags):
    request = StartRequest(command=command, **flags)
    analysis = analyse(command)
    port = discover_port(request, analysis, {})
    return derive_name(request, analysis, cwd, port), port


@pytest.mark.parametrize("command, cwd, flags, expected", [
    (["python", "-m", "http.server", "8000"], "/home/u/my-api", {}, ("my-api-http-8000", 8000)),
    (["node", "app.js", "3000"], "/home/u/backend", {}, ("backend-app-3000", 3000)),
    (["python3", "-m", "http.server"], "/srv/x", {"name": "web", "port": 7777}, ("web-7777", 7777)),
    (["python3", "-m", "http.server", "7777", "--bind", "127.0.0.1"], "/srv/site", {},
     ("site-http-7777", 7777)),
    (["python3", "-m", "http.server", "--bind", "127.0.0.1", "7777"], "/srv/site", {},
     ("site-http-7777", 7777)),
    (["python3", "-m", "http.server", "-d", "/srv/www", "-b", "::1", "8080"], "/srv/site", {},
     ("site-http-8080", 8080)),
    (["sleep", "100"], "/srv/jobs", {}, ("jobs-sleep", None)),
    (["PORT=4000", "node", "server.js"], "/srv/api", {}, ("api-server-4000", 4000)),
    (["./worker", "--port", "9100"], "/srv/w", {}, ("w-worker", None)),  # the command's own flag
    (["python3", "app.py", "--port", "1"], "/srv/w", {}, ("w-app", None)),  # SPEC 3's example
    (["python3", "-m", "http.server", "--cgi", "8000"], "/srv/w", {}, ("w-http-8000", 8000)),
    (["python3", "app.py"], "/srv/my app!", {}, ("my-app-app", None)),
    # a plain script's small number is an ordinary argument; a known server's is its port
    (["python3", "sleeper.py", "60"], "/srv/w", {}, ("w-sleeper", None)),
    (["node", "worker.js", "4"], "/srv/w", {}, ("w-worker", None)),
    (["python3", "app.py", "8080"], "/srv/w", {}, ("w-app-8080", 8080)),
    (["python3", "-m", "http.server", "80"], "/srv/w", {}, ("w-http-80", 80)),
    (["python3", "-m", "mytool", "5"], "/srv/w", {}, ("w-mytool", None)),
])
def test_names_and_ports_follow_the_spec(command, cwd, flags, expected):
    assert _name_and_port(command, cwd, **flags) == expected


def test_scripts_get_their_interpreter():
    assert analyse(["app.py"]).command == ["python3", "app.py"]
    assert analyse(["server.js", "80"]).process_type == "node"
    assert analyse(["deploy.sh"]).command[0] == "bash"
    assert analyse(["/usr/bin/env"]).process_type == "binary"


def test_trailing_name_and_port_are_tsms_the_rest_is_the_commands():
    words, flags = split_trailing(["python3", "-m", "http.server", "7777", "--name", "web"])
    assert words == ["python3", "-m", "http.server", "7777"] and flags == {"name": "web"}
    words, flags = split_trailing(["app", "--port", "80", "--name=x"])
    assert words == ["app"] and flags == {"port": 80, "name": "x"}
    words, flags = split_trailing(["app", "--bind", "0.0.0.0"])
    assert words == ["app", "--bind", "0.0.0.0"] and flags == {}
    words, flags = split_trailing(["--name", "x"])  # no command left: not taken
    assert words == ["--name", "x"] and flags == {}


def test_names_that_could_escape_are_refused():
    for bad in ("..", "../x", "a/b", "", ".x", "-x", "a" * 101):
        with pytest.raises(UsageError):
            check_name(bad)
    assert check_name("web-7777") == "web-7777"
    assert "/" not in sanitize("../../etc") and ".." not in sanitize("a..b")


def test_env_file_syntax():
    text = ("# comment\n\nexport A=1\nB='single $literal # kept'\nC=\"two\\nlines \\\"q\\\"\"\n"
            "D=plain value # trailing comment\nE=\n")
    assert envfile.parse(text) == {"A": "1", "B": "single $literal # kept",
                                   "C": 'two\nlines "q"', "D": "plain value", "E": ""}
    with pytest.raises(envfile.EnvFileError, match="x.env:1"):
        envfile.parse("not a pair\n", "x.env")
    with pytest.raises(envfile.EnvFileError, match="unterminated"):
        envfile.parse("A='open\n")


def test_rotation_writes_only_whole_lines_even_for_an_oversized_line(tmp_path):
    log = RotatingLog(str(tmp_path / "current.out"), max_bytes=10, keep=3)
    splitter = LineSplitter(log)
    splitter.feed(b"abc\nde")
    splitter.feed(b"f\n" + b"x" * 25 + b"\nshort\n")
    splitter.feed(b"tail-without-newline")
    splitter.flush()
    log.close()
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert files == {"current.out.3": b"abc\ndef\n", "current.out.2": b"x" * 25 + b"\n",
                     "current.out.1": b"short\n", "current.out": b"tail-without-newline\n"}
