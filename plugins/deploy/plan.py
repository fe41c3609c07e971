"""The remote commands of a deploy, per host, as data.

One source of truth: ``--dry-run`` prints exactly these operations and a real
run executes exactly these.  Every path is ``shlex.quote``d; list commands
arrive on the host as one argument per element.  The only unquoted text is
the topology author's own ``restart``/``check`` shell command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

q = shlex.quote


@dataclass
class Op:
    """One remote operation: ``run`` (argv) or ``put`` (local → remote)."""

    kind: str
    argv: list[str] = field(default_factory=list)
    local: str = ""
    remote: str = ""
    sha256: str = ""  # put: the digest the host must compute for the file

    def text(self) -> str:
        if self.kind == "put" and self.sha256:
            return (f"put {self.local} → {self.remote} (sha256 computed on the host must be "
                    f"{self.sha256}, else nothing is renamed into place)")
        if self.kind == "put":
            return f"put {self.local} → {self.remote} (then verify sha256)"
        return shlex.join(self.argv)


@dataclass
class Layout:
    """Where a release lives on one host."""

    deploy_path: str
    release: str  # the release name: the transaction id

    @property
    def releases(self) -> str:
        return str(PurePosixPath(self.deploy_path) / "releases")

    @property
    def tarball(self) -> str:
        return f"{self.releases}/{self.release}.tar.gz"

    @property
    def release_dir(self) -> str:
        return f"{self.releases}/{self.release}"

    @property
    def current(self) -> str:
        return str(PurePosixPath(self.deploy_path) / "current")

    def tmp_link(self) -> str:
        return str(PurePosixPath(self.deploy_path) / f".current.{self.release}.tmp")


def prepare(lay: Layout) -> Op:
    """Create the releases directory; list the releases and the current one
    (the :func:`list_releases` format: prune needs no second listing)."""
    return Op("run", ["sh", "-c", f"mkdir -p -- {q(lay.releases)} && {{ {_listing(lay)}; }}"])


def upload(lay: Layout, local: str, sha256: str = "") -> Op:
    """The upload; with ``sha256`` the host's own hash of the file is checked
    against it before the rename (that is the verify step: no second hash)."""
    return Op("put", local=local, remote=lay.tarball, sha256=sha256)


def copy_from(lay: Layout, source: str) -> Op:
    """Take the artifact from another host entry on the same machine: a hard
    link (instant) or, across filesystems, a copy — instead of a second upload."""
    return Op("run", ["sh", "-c", (f"mkdir -p -- {q(lay.releases)} && "
                                  f"{{ ln -f -- {q(source)} {q(lay.tarball)} 2>/dev/null || "
                                  f"cp -f -- {q(source)} {q(lay.tarball)}; }}")])


def verify_copy(lay: Layout, source: str) -> Op:
    """``same`` when the tarball is the very file already verified (one inode),
    else its sha256 like :func:`verify`."""
    return Op("run", ["sh", "-c", (f"if [ {q(lay.tarball)} -ef {q(source)} ]; then echo same; "
                                  f"else {_sha256(lay.tarball)}; fi")])


def _sha256(path: str) -> str:
    """A shell command printing the file's sha256 first: openssl (the CPU's SHA
    instructions, 4-5x faster than coreutils on 50 MB), else sha256sum, else shasum."""
    f = q(path if path.startswith("/") else "./" + path)
    return (f"{{ openssl dgst -sha256 -r {f} 2>/dev/null || sha256sum -- {f} 2>/dev/null "
            f"|| shasum -a 256 {f}; }}")


def verify(lay: Layout) -> Op:
    return Op("run", ["sh", "-c", _sha256(lay.tarball)])


def extract(lay: Layout) -> Op:
    """Unpack into a scratch directory, then rename into place (re-runnable).

    zstd, where the host has it, inflates gzip with zlib: 1.6x faster than
    gzip on compressible data and 10x on incompressible data, whose CRC gzip
    computes slowly.  Any failure there (no zstd, no -I in tar, a zstd without
    gzip support, a damaged archive) falls back to plain ``tar -xzf``, whose
    message is the one reported.
    """
    part, rel = lay.release_dir + ".part", lay.release_dir
    fresh = f"rm -rf -- {q(part)}; mkdir -p -- {q(part)}"
    fast = (f"command -v unzstd >/dev/null 2>&1 && "
            f"tar -I unzstd -xf {q(lay.tarball)} -C {q(part)} 2>/dev/null")
    return Op("run", ["sh", "-c", (f"set -e; {fresh}; if ! {{ {fast}; }}; then {fresh}; "
                                  f"tar -xzf {q(lay.tarball)} -C {q(part)}; fi; "
                                  f"rm -rf -- {q(rel)}; mv -- {q(part)} {q(rel)}")])


# One big file of a tree copy, run by xargs as ``sh -c SCRIPT DEST ./path``:
# direct I/O (O_DIRECT), else a plain copy where the filesystem refuses it;
# then what ``cp -a`` would have kept: mode, owner (where allowed), times,
# extended attributes (``all``: one that cannot be kept is not a failure, as in cp -a).
_COPY_BIG = ('{ [ -d "$0/${1%/*}" ] || mkdir -p -- "$0/${1%/*}"; } && '
             '{ dd if="$1" of="$0/$1" bs=1M oflag=direct status=none 2>/dev/null '
             '|| cat -- "$1" > "$0/$1"; } && '
             'cp --attributes-only --preserve=all -- "$1" "$0/$1"')


def copy_tree(source: str, lay: Layout) -> Op:
    """The release as a copy of one unpacked on the same machine (re-runnable).

    The result is what ``cp -a`` makes (modes, owners, times, links), but files
    of 1 MiB and more that have one link are written first, with direct I/O,
    four at a time; ``cp -a`` then copies the rest, skipping those.  They go to
    disk without taking fresh page cache: on a VM that hands freed memory back
    to its host a fresh page costs more than the disk write (nine 50 MB copies:
    0.35 s instead of 0.6-1.4 s), and the running release's cached files are
    not evicted.  Without
    GNU cp, or on any failure, it falls back to a plain ``cp -a``.
    """
    part, rel = lay.release_dir + ".part", lay.release_dir
    # The copy runs in the source: the destination must not depend on the cwd.
    dst, find_dst = (q(part), "") if part.startswith("/") else \
        ('"$dst"', f"dst=$(cd -- {q(part)} && pwd) && ")
    # cp skips the files already there: -n, which coreutils 9.2-9.4 count as a
    # failure (having copied the rest): then --update=none (9.3+) finishes quietly
    fast = (f"mkdir -- {q(part)} && {find_dst}cd -- {q(source)} && "
            f"find . -type f -size +1023k -links 1 -print0 | "
            f"xargs -0r -n1 -P4 sh -c {q(_COPY_BIG)} {dst} && "
            f"{{ cp -an -- . {dst} || cp -a --update=none -- . {dst}; }}")
    leftovers = " || ".join(f"[ -e {q(p)} ] || [ -L {q(p)} ]" for p in (part, rel))
    return Op("run", ["sh", "-c", (f"set -e; if {leftovers}; then rm -rf -- {q(part)} {q(rel)}; fi; "
                                  f"( {fast} ) 2>/dev/null || {{ rm -rf -- {q(part)}; cp -a -- {q(source)} {q(part)}; }}; "
                                  f"mv -- {q(part)} {q(rel)}")])


def link(lay: Layout, release: str) -> Op:
    """Step 1 of the switch: a new symlink beside ``current`` (relative target)."""
    return Op("run", ["ln", "-sfn", f"releases/{release}", lay.tmp_link()])


def rename(lay: Layout) -> Op:
    """Step 2: rename it over ``current`` — atomic, readers see old or new."""
    return Op("run", ["mv", "-Tf", lay.tmp_link(), lay.current])


def unlink_current(lay: Layout) -> Op:
    return Op("run", ["rm", "-f", "--", lay.current])


def restart(lay: Layout, command: str) -> Op:
    return Op("run", ["sh", "-c", f"cd {q(lay.current)} && {command}"])


def check(lay: Layout, command: str) -> Op:
    return Op("run", ["sh", "-c", f"cd {q(lay.current)} && {command}"])


def health(url: str) -> Op:
    """One probe of a health URL, from the host itself (curl, else wget, else python3)."""
    u = q(url)
    return Op("run", ["sh", "-c",
                      (f"if command -v curl >/dev/null 2>&1; then curl -fsS -o /dev/null --max-time 5 {u}; "
                      f"elif command -v wget >/dev/null 2>&1; then wget -q -T 5 -O /dev/null {u}; "
                      f"else python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], "
                      f"timeout=5)' {u}; fi")])


def list_releases(lay: Layout) -> Op:
    """Releases (directories) and what ``current`` points at."""
    return Op("run", ["sh", "-c", _listing(lay)])


def _listing(lay: Layout) -> str:
    # the cd is in a subshell: a relative deploy_path still finds current
    return (f"( cd -- {q(lay.releases)} 2>/dev/null && "
            f"for d in */; do [ -d \"$d\" ] && printf '%s\\n' \"${{d%/}}\"; done; "
            f"for m in .*{_MARK}; do [ -f \"$m\" ] && m=${{m#.}} && "
            f"printf 'rolled-back=%s\\n' \"${{m%{_MARK}}}\"; done; true ); "
            f"printf 'current=%s\\n' \"$(readlink -- {q(lay.current)} || true)\"")


# A release a rollback went back from is marked ``releases/.<name>.rolled-back``:
# the next rollback skips it (Capistrano deletes it; tetra keeps it for --to).
_MARK = ".rolled-back"


def _marker(lay: Layout, release: str) -> str:
    return f"{lay.releases}/.{release}{_MARK}"


def mark_rolled_back(lay: Layout, away_from: str | None, to: str) -> Op:
    """After a rollback: mark the release it left, unmark the one it went to."""
    cmd = f"rm -f -- {q(_marker(lay, to))}"
    if away_from:
        cmd = f": > {q(_marker(lay, away_from))} && " + cmd
    return Op("run", ["sh", "-c", cmd])


def rolled_back(text: str) -> set[str]:
    """The releases a rollback went back from, from :func:`list_releases` output."""
    return {line[len("rolled-back="):] for line in text.splitlines() if line.startswith("rolled-back=")}


def remove(lay: Layout, releases: list[str]) -> Op:
    paths = []
    for r in releases:
        paths += [f"{lay.releases}/{r}", f"{lay.releases}/{r}.tar.gz", _marker(lay, r)]
    return Op("run", ["rm", "-rf", "--", *paths])


def discard(lay: Layout, drop_releases_dir: bool = False) -> Op:
    """Remove what a failed deploy left of its release (tarball, scratch and
    release directories, the switch's temporary link); with
    ``drop_releases_dir``, also the releases directory if that left it empty
    (the deploy created it)."""
    paths = [lay.release_dir, lay.release_dir + ".part", lay.tarball, lay.tmp_link()]
    # never the release a host still runs (a switch back that did not happen)
    cmd = (f"if [ \"$(readlink -- {q(lay.current)})\" = {q('releases/' + lay.release)} ]; then "
           f"echo 'current is still this release: kept' >&2; exit 3; fi; "
           "rm -rf -- " + " ".join(q(p) for p in paths))
    if drop_releases_dir:
        cmd += f"; rmdir -- {q(lay.releases)} 2>/dev/null; true"
    return Op("run", ["sh", "-c", cmd])


_STAMP = re.compile(r"(\d{8}T\d{6})(?:-(\d+))?$")


def release_order(name: str) -> tuple:
    """Sort key: releases are transaction ids, ordered by their timestamp."""
    m = _STAMP.search(name)
    return (m.group(1), int(m.group(2) or 1), name) if m else ("", 0, name)


def parse_listing(text: str) -> tuple[list[str], str | None]:
    """(releases oldest first, current release name or None) from list_releases output."""
    names, current = [], None
    for line in text.splitlines():
        if line.startswith("current="):
            target = line[len("current="):].strip()
            current = PurePosixPath(target).name if target else None
        elif line and not line.endswith(".part") and not line.startswith("rolled-back="):
            names.append(line)
    return sorted(names, key=release_order), current


def to_prune(releases: list[str], keep: int, protect: set[str]) -> list[str]:
    """The oldest releases beyond ``keep``, never one in ``protect`` (the one now current)."""
    keep = max(keep, 1)
    extra = len(releases) - keep
    out = []
    for name in releases:
        if extra <= 0:
            break
        if name in protect:
            continue
        out.append(name)
        extra -= 1
    return out
