"""Completion of @targets, :roles and [hosts] from the topology.

Returns ``(text, meta)`` pairs; the shell shows ``meta`` beside each candidate.
"""

from __future__ import annotations


def targets(session, prefix: str) -> list[tuple[str, str]]:
    from tetra_repl.topology import describe_targets

    try:
        info = describe_targets(session)
    except Exception:  # a broken topology must not break typing
        return []
    text = prefix[1:] if prefix.startswith("@") else prefix
    by_name = {t["name"]: t for t in info["targets"]}
    if "[" in text:
        head, _, partial = text.partition("[")
        name = head.split(":")[0]
        target = by_name.get(info["aliases"].get(name, name))
        if target is None:
            return []
        done, _, last = partial.rpartition(",")
        picked = set(done.split(",")) if done else set()  # `@prod[web-1,`: not web-1 again
        role = head.partition(":")[2] or None
        stem = f"@{head}[" + (done + "," if done else "")
        return [(f"{stem}{h['name']}]", h["host"] or "") for h in target["hosts"]
                if (role is None or role in h["roles"]) and h["name"].startswith(last)
                and h["name"] not in picked]
    if ":" in text:
        name, _, partial = text.partition(":")
        target = by_name.get(info["aliases"].get(name, name))
        if target is None:
            return []
        return [(f"@{name}:{r}", f"{sum(r in h['roles'] for h in target['hosts'])} hosts")
                for r in target["roles"] if r.startswith(partial)]
    found: dict[str, str] = {}
    for name, t in by_name.items():
        n = len(t["hosts"])
        found[name] = f"{n} host{'s' if n != 1 else ''}"
    for alias, to in info["aliases"].items():
        found.setdefault(alias, f"-> {to}")
    for name in info["ssh_config"]:
        found.setdefault(name, "ssh_config")
    return sorted((f"@{n}", meta) for n, meta in found.items() if n.startswith(text))
