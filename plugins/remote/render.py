"""Text for the remote commands: resolve tables, target lists, fan-out summaries, progress."""

from __future__ import annotations

import time


def _short(path: str) -> str:
    import os

    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home != "/" and path.startswith(home + "/") else path


def resolve_table(plan) -> list[str]:
    """``resolve @x``: one row per level, per-host levels one row per host."""
    lines = [f"{plan.symbol} -> {plan.target} ({len(plan.hosts)} host"
             f"{'s' if len(plan.hosts) != 1 else ''})"]
    width = max(len(h.name) for h in plan.hosts) if plan.hosts else 0

    def row(level, text):
        lines.append(f"  {level['level']}  {level['name']:<10} {text}")

    indent = " " * len(f"  0  {'':<10} ")  # where a row's text starts

    for level in plan.levels:
        n = level["level"]
        if n == 0:
            parts = [f"target={level['target']}"]
            if level["role"]:
                parts.append(f"role={level['role']}")
            if level["selector"]:
                parts.append("selector=" + ",".join(level["selector"]))
            row(level, f"{level['symbol']}  " + " ".join(parts))
        elif n == 1:
            chain = level["chain"]
            row(level, " -> ".join(chain) if len(chain) > 1 else f"{chain[0]} (no alias)")
        elif n == 2:
            where = {"topology": f"from {level['file']}", "builtin": "built-in",
                     "ssh_config": "from ssh_config"}[level["source"]]
            interesting = {k: v for k, v in level["settings"].items()
                           if k in ("deploy_path", "parallel", "health", "check", "restart",
                                    "timeout", "host_key_policy", "connector")}
            row(level, f"{level['target']} {where}; {level['hosts_defined']} host(s) defined"
                + ("; " + " ".join(f"{k}={v}" for k, v in sorted(interesting.items()))
                   if interesting else ""))
        elif n == 3:
            how = []
            if level["role"]:
                how.append(f"role {level['role']}")
            if level["selector"]:
                how.append("selector " + ",".join(level["selector"]))
            row(level, ", ".join(level["selected"])
                + (f"  ({'; '.join(how)} of {len(level['defined'])})" if how else ""))
        else:
            first = True
            for entry in level["hosts"]:
                text = f"{entry['host']:<{width}}  {_host_text(n, entry)}"
                if first:
                    row(level, text)
                    first = False
                else:
                    lines.append(indent + text)
    return lines


def _host_text(n: int, e: dict) -> str:
    if n == 4:
        if e["port"] is None:
            return f"{e['hostname']} (this machine)"
        text = f"{e['hostname']}:{e['port']}"
        if e["proxy_jump"]:
            text += " via " + " -> ".join(e["proxy_jump"])
        sources = ", ".join(f"{k} from {v}" for k, v in e["from"].items()
                            if v not in ("host", "name", "builtin"))
        return text + (f"  ({sources})" if sources else "")
    if n == 5:
        keys = ", ".join(_short(p) for p in e["identity_files"]) or "no key files"
        agent = "agent" if e["agent"] else "no agent"
        return f"user {e['user']}; keys {keys}; {agent}"
    if n == 6:
        if e["policy"] is None:
            return "not needed (local)"
        files = ", ".join(_short(p) for p in e["known_hosts"])
        return f"{e['known_hosts_name']} in {files}; policy {e['policy']}"
    text = e["connector"]
    check = e.get("check")
    if check is not None:
        if check.get("ok"):
            text += f"  ok {check['ms']:.0f} ms"
            if check.get("server"):
                text += f"  {check['server']}"
            if check.get("host_key"):
                text += f"  {check['host_key']}"
            if check.get("note"):
                text += f"  ({check['note']})"
        else:
            text += f"  FAILED: {check.get('error')}"
            if check.get("hint"):
                text += f"\n{'':<17}hint: {check['hint']}"
    return text


def targets_listing(info: dict) -> list[str]:
    lines: list[str] = []
    for t in info["targets"]:
        hosts = t["hosts"]
        head = f"@{t['name']:<14} {len(hosts)} host{'s' if len(hosts) != 1 else ' '}  {t['connector']}"
        if t["roles"]:
            head += "  roles: " + ", ".join(t["roles"])
        if t["source"] == "builtin":
            head += "  (built-in)"
        lines.append(head)
        width = max(len(h["name"]) for h in hosts)
        for h in hosts:
            row = f"    {h['name']:<{width}}"
            if h["host"] and h["host"] != h["name"]:
                row += f"  {h['host']}"
            if h["roles"]:
                row += "  [" + ", ".join(h["roles"]) + "]"
            lines.append(row)
    if info["aliases"]:
        lines.append("aliases: " + ", ".join(f"@{a} -> {b}" for a, b in sorted(info["aliases"].items())))
    if info["ssh_config"]:
        lines.append("ssh_config hosts: " + ", ".join("@" + n for n in info["ssh_config"]))
    lines.append(f"topology: {info['file'] or 'none (only @local)'}")
    return lines


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    """Transfer progress on a terminal: one line, rewritten, bytes/s and ETA.

    Fed from worker threads through :meth:`update`; draws at most 10 times a second.
    """

    def __init__(self, stream, label: str, hosts: list[str]):
        self.stream = stream
        self.label = label
        self.done = {h: 0 for h in hosts}
        self.total = {h: 0 for h in hosts}
        self.started = time.monotonic()
        self._drawn = 0.0
        import threading

        self._lock = threading.Lock()

    def update(self, host: str, done: int, total: int) -> None:
        with self._lock:
            self.done[host] = done
            self.total[host] = total
            now = time.monotonic()
            if now - self._drawn < 0.1 and done < total:
                return
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        done, total = sum(self.done.values()), sum(self.total.values())
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        pct = 100 * done / total if total else 100
        eta = (total - done) / rate if rate > 0 else 0
        hosts = f" to {len(self.done)} hosts" if len(self.done) > 1 else ""
        self.stream.write(f"\r{self.label}{hosts}: {pct:5.1f}%  {human_bytes(done)}/"
                          f"{human_bytes(total)}  {human_bytes(rate)}/s  ETA {int(eta) // 60}:"
                          f"{int(eta) % 60:02d}\x1b[K")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
