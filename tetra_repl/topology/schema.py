"""Every topology key, declared once: type, where it may appear, default, help.

Validation, ``resolve`` output and documentation all read this table (as
pyinfra declares its connector settings).  A plugin that needs a key of its
own (say ``keep`` for deploy) declares it with :func:`declare`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HOST_KEY_POLICIES = ("reject", "accept-new")
CONNECTORS = ("ssh", "local")


@dataclass(frozen=True)
class Setting:
    """One key: ``type`` is str, int, float, bool, list (of str) or str|list."""

    name: str
    type: str
    help: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # an exclusive minimum: the value must be more than this


SETTINGS: dict[str, Setting] = {}


def declare(name: str, type: str, help: str, default: Any = None, *,
            choices: tuple[str, ...] | None = None, minimum: float | None = None,
            maximum: float | None = None, above: float | None = None) -> Setting:
    """Declare a setting usable in ``[defaults]``, a target and a host entry.

    ``minimum`` and ``maximum`` are inclusive bounds; ``above`` an exclusive lower one
    (a timeout of 0 would end every command at once)."""
    setting = Setting(name, type, help, default, choices, minimum, maximum, above)
    SETTINGS[name] = setting
    return setting


declare("user", "str", "login user (else ssh_config User, else the local user)")
declare("port", "int", "SSH port (else ssh_config Port, else 22)", minimum=1, maximum=65535)
declare("connector", "str", "how to reach the host", choices=CONNECTORS)
declare("deploy_path", "str", "where releases live on the host", "/srv/app")
declare("health", "str", "URL polled after a deploy until it answers 2xx")
declare("check", "str", "command run on the host after a deploy; 0 = healthy")
declare("health_timeout", "float", "seconds to keep polling the health URL after a deploy",
        minimum=0)
declare("restart", "str", "command run on the host after the switch")
declare("keep", "int", "releases kept per host", 5, minimum=1)
declare("parallel", "int", "max hosts at once for fan-out", 10, minimum=1)
declare("timeout", "float", "default command timeout in seconds (none: no limit)", above=0)
declare("host_key_policy", "str", "unknown host keys: refuse, or record the first one seen",
        "reject", choices=HOST_KEY_POLICIES)
declare("known_hosts", "str|list", "known_hosts file(s) (else ssh_config UserKnownHostsFile, "
        "else ~/.ssh/known_hosts)")
declare("identity_file", "str|list", "private key file(s) (else ssh_config IdentityFile, "
        "else ~/.ssh/id_*)")
declare("identities_only", "bool", "offer only the identity files, not every agent key", False)
declare("agent", "bool", "offer ssh-agent keys when $SSH_AUTH_SOCK is set", True)
declare("proxy_jump", "str", "jump host(s), as ssh's ProxyJump: [user@]host[:port][,…]")
declare("connect_timeout", "float", "seconds to wait for TCP connect and handshake", 10.0,
        minimum=0.1)
declare("connect_retries", "int", "extra attempts after a refused/reset/timed-out connect",
        3, minimum=0)
declare("keepalive_interval", "float", "seconds of silence before probing the server", 5.0,
        minimum=0.1)
declare("keepalive_count_max", "int", "unanswered probes before the server counts as gone",
        3, minimum=1)
declare("max_sessions", "int", "sessions open at once on one SSH connection (the server's "
        "MaxSessions; entries that are one login on one machine share a connection)", 10, minimum=1)

# Keys only a host entry has, and only a target has.
HOST_ONLY = {"name": "str", "host": "str", "roles": "list"}
TARGET_ONLY = {"hosts": "hosts"}
