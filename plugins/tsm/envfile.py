"""Read ``KEY=VALUE`` env files (stdlib only; the supervisor uses it too).

Blank lines and ``#`` comments are skipped, ``export KEY=V`` is accepted,
values may be single-quoted (literal) or double-quoted (``\\n``, ``\\"``,
``\\\\`` escapes); an unquoted value ends at `` #``.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvFileError(ValueError):
    """A line of an env file that is not ``KEY=VALUE``."""


def parse(text: str, source: str = "env file") -> dict[str, str]:
    """The variables ``text`` defines, in order."""
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not _KEY.match(key):
            raise EnvFileError(f"{source}:{n}: expected KEY=VALUE, got {raw.strip()!r}")
        out[key] = _value(value.strip(), source, n)
    return out


def _value(value: str, source: str, n: int) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        while quote == '"' and end > 0 and value[end - 1] == "\\" and not value[:end].endswith("\\\\"):
            end = value.find(quote, end + 1)
        if end < 0:
            raise EnvFileError(f"{source}:{n}: unterminated {quote} quote")
        inner = value[1:end]
        if quote == '"':
            inner = (inner.replace("\\\\", "\0").replace("\\n", "\n").replace('\\"', '"')
                     .replace("\0", "\\"))
        return inner
    hash_at = value.find(" #")
    return (value[:hash_at] if hash_at >= 0 else value).rstrip()


def load(path: str) -> dict[str, str]:
    """Parse the env file at ``path`` (OSError and EnvFileError propagate)."""
    with open(path, encoding="utf-8") as f:
        return parse(f.read(), path)
