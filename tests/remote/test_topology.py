"""Topology files and the eight-level resolver, through the real `tetra` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

TOPOLOGY = """\
[defaults]
user = "deploy"
port = 22
deploy_path = "/srv/app"
parallel = 4

[aliases]
stg = "staging"
web = "prod:web"

[targets.staging]
hosts = ["stg-1"]
deploy_path = "/srv/api"
health = "http://127.0.0.1:8080/health"

[targets.prod]
restart = "tsm restart api"
hosts = [
  { name = "web-1", host = "10.0.0.11", roles = ["web"] },
  { name = "web-2", host = "10.0.0.12", roles = ["web"], deploy_path = "/srv/web2" },
  { name = "db-1",  host = "10.0.0.21", port = 2222, user = "ops", roles = ["db"] },
]
"""

SSH_CONFIG = """\
Host stg-1
    HostName 192.0.2.7
    Port 2200
    User stguser
    IdentityFile ~/keys/stg_ed25519

Host bastion
    HostName 198.51.100.1
    User jump

Host behind
    HostName 10.9.9.9
    ProxyJump bastion
"""


@pytest.fixture
def topo(tetra_dir, tmp_path):
    (tetra_dir / "topology.toml").write_text(TOPOLOGY)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(SSH_CONFIG)
    return cfg


def plan_of(tetra, symbol, cfg):
    r = tetra("--ssh-config", str(cfg), "resolve", symbol, "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert [lv["name"] for lv in plan["levels"]] == [
        "symbol", "alias", "target", "hosts", "address", "identity", "trust", "connector"]
    assert [lv["level"] for lv in plan["levels"]] == list(range(8))
    return plan


def test_symbol_level_records_name_role_and_selector(tetra, topo):
    plan = plan_of(tetra, "@prod:web[web-2]", topo)
    assert plan["levels"][0] == {"level": 0, "name": "symbol", "symbol": "@prod:web[web-2]",
                                 "target": "prod", "role": "web", "selector": ["web-2"]}


def test_alias_expands_with_its_role(tetra, topo):
    plan = plan_of(tetra, "@web", topo)
    assert plan["levels"][1]["chain"] == ["web", "prod"]
    assert plan["target"] == "prod"
    assert [h["name"] for h in plan["hosts"]] == ["web-1", "web-2"]


def test_target_settings_merge_defaults_target_host(tetra, topo):
    plan = plan_of(tetra, "@prod", topo)
    hosts = {h["name"]: h for h in plan["hosts"]}
    assert hosts["web-1"]["settings"]["deploy_path"] == "/srv/app"  # defaults
    assert hosts["web-2"]["settings"]["deploy_path"] == "/srv/web2"  # host wins
    assert hosts["web-1"]["settings"]["restart"] == "tsm restart api"  # target
    assert hosts["db-1"]["port"] == 2222 and hosts["db-1"]["user"] == "ops"
    assert hosts["web-1"]["port"] == 22 and hosts["web-1"]["user"] == "deploy"
    assert plan["levels"][2]["settings"]["parallel"] == 4


def test_role_and_selector_filtering(tetra, topo):
    assert [h["name"] for h in plan_of(tetra, "@prod:db", topo)["hosts"]] == ["db-1"]
    assert [h["name"] for h in plan_of(tetra, "@prod[0]", topo)["hosts"]] == ["web-1"]
    assert [h["name"] for h in plan_of(tetra, "@prod[web-2,db-1]", topo)["hosts"]] == ["web-2", "db-1"]
    assert [h["name"] for h in plan_of(tetra, "@prod:web[1]", topo)["hosts"]] == ["web-2"]
    level3 = plan_of(tetra, "@prod:web", topo)["levels"][3]
    assert level3["defined"] == ["web-1", "web-2", "db-1"] and level3["selected"] == ["web-1", "web-2"]


def test_empty_selection_is_an_error(tetra, topo):
    r = tetra("--ssh-config", str(topo), "resolve", "@prod:cache")
    assert r.returncode == 1
    assert "no host of prod has role 'cache'" in r.stderr and "db, web" in r.stderr
    r = tetra("--ssh-config", str(topo), "resolve", "@prod[web-3]")
    assert r.returncode == 1 and "no host 'web-3' in prod (did you mean" in r.stderr


def test_ssh_config_supplies_address_and_identity(tetra, topo, tmp_path):
    plan = plan_of(tetra, "@stg", topo)
    host = plan["hosts"][0]
    assert (host["hostname"], host["port"], host["user"]) == ("192.0.2.7", 2200, "stguser")
    assert host["identity_files"] == [str(tmp_path / "home" / "keys" / "stg_ed25519")]
    assert plan["levels"][4]["hosts"][0]["from"]["hostname"] == "ssh_config"
    assert host["settings"]["deploy_path"] == "/srv/api"


def test_unknown_name_falls_back_to_ssh_config_host(tetra, topo):
    plan = plan_of(tetra, "@behind", topo)
    assert plan["levels"][2]["source"] == "ssh_config"
    host = plan["hosts"][0]
    assert host["hostname"] == "10.9.9.9"
    assert [(v["hostname"], v["user"]) for v in host["via"]] == [("198.51.100.1", "jump")]
    assert plan["levels"][4]["hosts"][0]["proxy_jump"] == ["jump@198.51.100.1:22"]


def test_trust_level_defaults_to_reject(tetra, topo):
    trust = plan_of(tetra, "@prod:db", topo)["levels"][6]["hosts"][0]
    assert trust["policy"] == "reject" and trust["known_hosts_name"] == "[10.0.0.21]:2222"


def test_keepalive_default_reports_a_silent_server_within_30s(tetra, topo):
    settings = plan_of(tetra, "@prod", topo)["hosts"][0]["settings"]
    assert settings["keepalive_interval"] * settings["keepalive_count_max"] <= 30


def test_resolve_table_shows_all_levels(tetra, topo):
    r = tetra("--ssh-config", str(topo), "resolve", "@stg")
    assert r.returncode == 0, r.stderr
    for n, name in enumerate(["symbol", "alias", "target", "hosts", "address", "identity",
                              "trust", "connector"]):
        assert f"  {n}  {name}" in r.stdout
    assert "stg -> staging" in r.stdout and "192.0.2.7:2200" in r.stdout


def test_unknown_target_suggests_a_close_name(tetra, topo):
    r = tetra("--ssh-config", str(topo), "-c", "@stagin uptime")
    assert r.returncode == 1
    assert "unknown target @stagin (did you mean @staging?)" in r.stderr
    assert "Traceback" not in r.stderr


def test_local_always_exists_without_topology(tetra):
    plan = json.loads(tetra("resolve", "@local", "--json").stdout)
    assert plan["hosts"][0]["connector"] == "local"
    assert plan["levels"][2]["source"] == "builtin"


def test_targets_lists_targets_roles_hosts_aliases(tetra, topo):
    r = tetra("--ssh-config", str(topo), "targets")
    assert r.returncode == 0, r.stderr
    assert "@prod" in r.stdout and "roles: db, web" in r.stdout and "10.0.0.21" in r.stdout
    assert "@stg -> staging" in r.stdout and "@local" in r.stdout and "@bastion" in r.stdout
    info = json.loads(tetra("--ssh-config", str(topo), "targets", "--json").stdout)
    assert {t["name"] for t in info["targets"]} == {"staging", "prod", "local"}


def test_json_topology_with_the_same_structure(tetra, tetra_dir):
    (tetra_dir / "topology.json").write_text(json.dumps(
        {"targets": {"api": {"hosts": [{"name": "a1", "host": "10.1.1.1", "roles": ["web"]}]}}}))
    plan = json.loads(tetra("resolve", "@api:web", "--json").stdout)
    assert plan["hosts"][0]["hostname"] == "10.1.1.1"


@pytest.mark.parametrize("body, expected", [
    ('[targets.a]\nhosts = ["x"]\nparalel = 3\n',
     ":3: targets.a.paralel: unknown key (did you mean 'parallel'?)"),
    ('[targets.a]\nhosts = [ { name = "x", port = "22" } ]\n',
     ":2: targets.a.hosts[0].port: expected an integer, got '22'"),
    ('[aliases]\na = "b"\nb = "a"\n', "aliases.a: alias cycle: a -> b -> a"),
    ('[targets.a]\nhosts = []\n', ":2: targets.a.hosts: empty host list"),
    ('[targets.a]\nhosts = ["x", { name = "x", host = "1.2.3.4" }]\n',
     "targets.a.hosts[1]: duplicate host name 'x' (also hosts[0])"),
    ('[defaults]\nhost_key_policy = "yes"\n',
     "defaults.host_key_policy: must be one of reject, accept-new"),
    ('[targets.a\nhosts = 1\n', ":1: invalid TOML"),
])
def test_invalid_topology_names_file_line_and_key(tetra, tetra_dir, body, expected):
    path = tetra_dir / "topology.toml"
    path.write_text(body)
    r = tetra("-c", "targets")
    assert r.returncode == 1
    assert f"{path}" in r.stderr and expected in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_topology_change_takes_effect_for_the_next_resolve(tetra, tetra_dir, tmp_path):
    path = tetra_dir / "topology.toml"
    path.write_text('[targets.a]\nhosts = [{ name = "old", host = "10.0.0.1" }]\n')
    new = tmp_path / "new.toml"
    new.write_text('[targets.a]\nhosts = [{ name = "new-host", host = "10.0.0.2" }]\n')
    script = textwrap.dedent(f"""\
        resolve @a
        @local cp {new} {path}
        resolve @a
    """)
    r = tetra(input=script)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split("@a -> a")[1:]
    assert "old" in first and "new-host" in second


def test_local_target_does_not_import_paramiko(tetra_env):
    code = ("import sys; from tetra_repl.cli import run; "
            "status = run(['-c', '@local true; resolve @local; targets']); "
            "print('paramiko' in sys.modules, status)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=tetra_env)
    assert r.stdout.strip().splitlines()[-1] == "False 0", r.stdout + r.stderr


def test_completion_of_targets_roles_and_hosts(tetra_env, topo, monkeypatch):
    for key, value in tetra_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TETRA_SSH_CONFIG", str(topo))
    from tetra_repl.session import Session

    session = Session()
    session.load_plugins()
    fn = session.registry.completers["target"]

    def complete(prefix):
        return [text for text, _ in fn(session, prefix)]

    assert complete("@st") == ["@staging", "@stg", "@stg-1"]  # stg-1: an ssh_config Host
    assert fn(session, "@stag") == [("@staging", "1 host")]
    assert complete("@prod:") == ["@prod:db", "@prod:web"]
    assert complete("@prod:web[") == ["@prod:web[web-1]", "@prod:web[web-2]"]
    assert complete("@prod[web-1,d") == ["@prod[web-1,db-1]"]
    assert "@bastion" in complete("@")
    session.close()


def test_ssh_config_include_is_followed(tetra, tmp_path):
    confd = tmp_path / "home" / ".ssh" / "conf.d"
    confd.mkdir(parents=True)
    (confd / "app.conf").write_text("Host app\n    HostName 10.2.3.4\n    Port 2022\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Include conf.d/*.conf\n\nHost *\n    User everyone\n")
    plan = plan_of(tetra, "@app", cfg)
    host = plan["hosts"][0]
    assert (host["hostname"], host["port"], host["user"]) == ("10.2.3.4", 2022, "everyone")


def test_unreadable_ssh_config_is_one_clear_line(tetra, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host bad\n    Port\n")
    r = tetra("--ssh-config", str(cfg), "-c", "@bad true")
    assert r.returncode == 1
    assert f"{cfg}: cannot read ssh_config: Unparsable line Port" in r.stderr
    assert "Traceback" not in r.stderr


def test_per_host_rows_of_the_resolve_table_line_up(tetra, topo):
    r = tetra("--ssh-config", str(topo), "resolve", "@prod:web")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    first = next(line for line in lines if line.startswith("  4  address"))
    second = lines[lines.index(first) + 1]
    assert first.index("web-1") == second.index("web-2")


def test_local_runs_as_this_user_whatever_the_defaults_say(tetra, topo):
    import getpass

    plan = plan_of(tetra, "@local", topo)  # the topology's [defaults] user is "deploy"
    assert plan["hosts"][0]["user"] == getpass.getuser()
    assert plan["levels"][5]["hosts"][0]["user"] == getpass.getuser()


def test_a_named_ssh_config_that_does_not_exist_is_an_error(tetra, topo, tmp_path):
    missing = tmp_path / "no_such_config"
    r = tetra("--ssh-config", str(missing), "resolve", "@staging")
    assert r.returncode == 1
    assert f"cannot read ssh_config {missing}: no such file" in r.stderr
    r = tetra("resolve", "@staging", env={"TETRA_SSH_CONFIG": str(tmp_path)})
    assert r.returncode == 1
    assert f"cannot read ssh_config {tmp_path}: not a file" in r.stderr


def test_a_topology_that_ends_inside_an_array_names_its_last_line(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text('[targets.a]\nhosts = [\n  "x",\n')
    r = tetra("targets")
    assert r.returncode == 1
    assert f"{tetra_dir}/topology.toml:3: invalid TOML: " in r.stderr


def test_topology_given_with_the_option_works_for_statements_on_a_target(tetra, tmp_path):
    topology = tmp_path / "elsewhere.toml"
    topology.write_text('[aliases]\nhere = "box"\ngone = "nope"\n\n'
                        '[targets.box]\nconnector = "local"\nhosts = ["a"]\n')
    r = tetra("--topology", str(topology), "-c", "@here echo on-box; exec @box -- echo again")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "on-box\nagain\n"
    r = tetra("--topology", str(topology), "-c", "@gone true")
    assert r.returncode == 1
    assert "unknown target @nope (alias @gone -> nope)" in r.stderr
