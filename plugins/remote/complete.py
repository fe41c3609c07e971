"""Completion of @targets, :roles and [hosts] from the topology."""

from __future__ import annotations


def targets(session, prefix: str) -> list[str]:
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
        role = head.partition(":")[2] or None
        names = [h["name"] for h in target["hosts"] if role is None or role in h["roles"]]
        stem = f"@{head}[" + (done + "," if done else "")
        return [f"{stem}{n}]" for n in names if n.startswith(last)]
    if ":" in text:
        name, _, partial = text.partition(":")
        target = by_name.get(info["aliases"].get(name, name))
        if target is None:
            return []
        return [f"@{name}:{r}" for r in target["roles"] if r.startswith(partial)]
    names = [*by_name, *info["aliases"], *info["ssh_config"]]
    return sorted({f"@{n}" for n in names if n.startswith(text)})
