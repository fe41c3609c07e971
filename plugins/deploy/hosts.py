"""Which hosts a deploy touches and what it runs on each, as data: the plan
per host (layout, restart, validation), which entry uploads for a machine,
and the ordered operations of :mod:`plan` for one host."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tetra_repl.errors import TetraError

from . import plan as P


class HostFailure(TetraError):
    """One host failed one step."""

    def __init__(self, host: str, step: str, message: str):
        if message.startswith(f"{host}: "):  # connection errors name the host already
            message = message[len(host) + 2:]
        super().__init__(f"host {host} failed at {step}: {message}")
        self.host, self.step, self.detail = host, step, message


@dataclass
class HostPlan:
    host: object  # topology.ResolvedHost
    layout: P.Layout
    restart: str | None = None
    health: str | None = None
    check: str | None = None
    settings: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.host.name


def deploy_path(session, host) -> str:
    """The host's deploy_path; for a local host with no deploy_path in the
    topology, ``DIR/deploy/hosts/<name>`` (so @local works with no set-up)."""
    settings = getattr(host, "settings", {}) or {}
    sources = getattr(host, "sources", {}) or {}
    if host.connector == "local" and sources.get("deploy_path", "builtin") == "builtin":
        return str(session.env.path("deploy", "hosts", host.name))
    path = str(settings.get("deploy_path", "/srv/app"))
    if not path.strip():
        raise TetraError(f"{host.name}: deploy_path is empty", hint="set it in the topology, "
                         "e.g. deploy_path = \"/srv/app\"")
    if path == "~" or path.startswith("~/"):
        # as Capistrano's deploy_to "~/apps/x": the login's home.  Over SSH a
        # relative path is that already, for commands and SFTP alike.
        return os.path.expanduser(path) if host.connector == "local" else (path[2:] or ".")
    if path.startswith("~"):
        raise TetraError(f"{host.name}: deploy_path {path}: only ~/ (the login's home) is understood",
                         hint="give an absolute path, or one under ~/")
    return path


def host_plans(session, hosts, release: str, params: dict) -> list[HostPlan]:
    out = []
    for h in hosts:
        s = dict(getattr(h, "settings", {}) or {})
        health = params.get("health") or (None if params.get("check") else s.get("health"))
        check = params.get("check") or (None if params.get("health") else s.get("check"))
        out.append(HostPlan(h, P.Layout(deploy_path(session, h), release), s.get("restart"),
                            health, check, s))
    return out


def machine(h) -> tuple:
    """Host entries (ResolvedHost) with the same address, port, user and route are one machine."""
    return (h.connector, h.hostname, h.port, h.user, tuple(v.key for v in getattr(h, "via", ())))


def leaders(hps: list[HostPlan]) -> dict[str, HostPlan | None]:
    """Host name -> the entry on the same machine that uploads for it (None: itself)."""
    first: dict[tuple, HostPlan] = {}
    out: dict[str, HostPlan | None] = {}
    for hp in hps:
        lead = first.setdefault(machine(hp.host), hp)
        out[hp.name] = None if lead is hp else lead
    return out


def hashed_by_upload(hp: HostPlan) -> bool:
    """Over SSH the upload has the host hash the file (and checks it against the
    artifact's sha256) before renaming it into place: that is the verify step.
    On the local connector verify reads the file back instead."""
    return hp.host.connector != "local"


def config_op(lay: P.Layout, config: dict | None, evidence_file: str | None) -> P.Op | None:
    """The ``--config`` file, put into the release under its own name (the
    name it had where the user keeps it), its sha256 checked on the host."""
    if not config or not evidence_file:
        return None
    name = Path(config.get("source") or "").name or Path(evidence_file).name.split("_", 1)[-1]
    return P.Op("put", local=evidence_file, remote=f"{lay.release_dir}/{name}",
                sha256=config.get("sha256") or "")


def shared_deploy_path(hps: list[HostPlan]) -> tuple[HostPlan, HostPlan] | None:
    """Two host entries that are one machine with one deploy_path (they would
    write the same release and switch the same ``current``)."""
    seen: dict[tuple, HostPlan] = {}
    for hp in hps:
        key = (machine(hp.host), hp.layout.deploy_path)
        if key in seen:
            return seen[key], hp
        seen[key] = hp
    return None


def host_ops(hp: HostPlan, artifact: str, config: P.Op | None,
             leader: HostPlan | None = None, sha256: str = "") -> list[tuple[str, P.Op]]:
    """(step, op) for EXECUTE and VALIDATE on one host, in order: what --dry-run prints."""
    lay = hp.layout
    ops = [("prepare", P.prepare(lay))]
    if leader is None and hashed_by_upload(hp) and sha256:
        ops += [("upload", P.upload(lay, artifact, sha256))]
    elif leader is None:
        ops += [("upload", P.upload(lay, artifact)), ("verify", P.verify(lay))]
    else:
        src = leader.layout.tarball
        ops += [("upload", P.copy_from(lay, src)), ("verify", P.verify_copy(lay, src))]
    ops += [("extract", P.extract(lay) if leader is None
             else P.copy_tree(leader.layout.release_dir, lay))]
    if config is not None:
        ops.append(("extract", config))
    ops += [("switch", P.link(lay, lay.release)), ("switch", P.rename(lay))]
    if hp.restart:
        ops.append(("restart", P.restart(lay, hp.restart)))
    if hp.health:
        ops.append(("validate", P.health(hp.health)))
    elif hp.check:
        ops.append(("validate", P.check(lay, hp.check)))
    return ops


def plan_lines(txn_id: str, symbol: str, hps: list[HostPlan], artifact: dict) -> list[str]:
    """The plan shown at ASSEMBLE: the artifact, then one line per host."""
    name = Path(artifact.get("source") or artifact["file"]).name
    lines = [(f"plan {txn_id}: {symbol} → {len(hps)} host(s); artifact {name} "
             f"({artifact['bytes']} bytes, sha256 {artifact['sha256'][:12]}…)")]
    for hp in hps:
        h = hp.host
        where = "local" if h.connector == "local" else f"ssh {h.user}@{h.hostname}:{h.port}"
        then = (f"health {hp.health}" if hp.health else f"check {hp.check}" if hp.check
                else "no validation configured")
        lines.append(f"  {hp.name:<12} {where:<28} {hp.layout.deploy_path}  "
                     f"restart: {hp.restart or '-'}  validate: {then}")
    return lines


def dry_run_lines(hps: list[HostPlan], artifact: str, sha256: str, config_op_for, keep_for) -> list[str]:
    """``--dry-run``: every remote command, per host, exactly as a real run sends it."""
    lines = ["dry run: the remote commands, per host (nothing is run):"]
    lead = leaders(hps)
    for hp in hps:
        for step, op in host_ops(hp, artifact, config_op_for(hp), lead[hp.name], sha256):
            lines.append(f"  [{hp.name}] {step:<8} {op.text()}")
        # which releases go is known only from prepare's listing on the host
        lines.append(f"  [{hp.name}] {'prune':<8} rm -rf -- {P.q(hp.layout.releases)}/<each release "
                     f"older than the newest {keep_for(hp)}> and its .tar.gz (if there are more)")
    return lines


def upload_progress(say, host: str):
    """A ``progress(done, total)`` callback printing a line at 0, 25, 50, 75 and 100%."""
    started, marks = time.monotonic(), set()

    def report(done: int, total: int) -> None:
        pct = 100 if total == 0 else int(done * 100 / total)
        mark = pct // 25
        if mark in marks:
            return
        marks.add(mark)
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0
        say(f"[{host}] upload {pct:3d}%  {_size(done)}/{_size(total)}  "
            f"{_size(rate)}/s  ETA {eta:.0f}s")

    return report


def _size(n: float) -> str:
    """``52.4 MB``, ``153 B``, ``4.0 kB``: small artifacts do not show as 0.0 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"
