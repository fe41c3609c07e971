"""A real OpenSSH server on 127.0.0.1 for the SSH integration tests.

Each server has its own host key in a temp directory; the client key,
authorized_keys and a known_hosts that trusts the server are made there too.
Nothing is mocked: tetra talks to /usr/sbin/sshd through paramiko.

Fixtures:
  ``ssh_keys``      the client key pair (session)
  ``sshd``          one shared server for the session
  ``sshd_factory``  ``sshd_factory(**config) -> SSHServer``: extra servers for tests
                    that freeze, kill or re-key them; stopped after the test
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP_SERVER = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
                                "/usr/lib/ssh/sftp-server") if os.path.exists(p)), "internal-sftp")


@dataclass
class ClientKeys:
    private: Path
    public: Path


def _keygen(path: Path, kind: str = "ed25519") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "tetra-test", "-f", str(path)],
                   check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def silent_listener():
    """``(port, accepted)``: a TCP port on 127.0.0.1 that accepts connections
    and never says a word (no SSH banner); ``accepted`` lists each connection
    taken, so a test can count connection attempts.  All closed on exit."""
    accepted: list = []
    stop = threading.Event()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        silent.settimeout(0.05)

        def take() -> None:
            while not stop.is_set():
                try:
                    accepted.append(silent.accept()[0])  # held open, never answered
                except OSError:
                    pass

        taker = threading.Thread(target=take, daemon=True)
        taker.start()
        try:
            yield silent.getsockname()[1], accepted
        finally:
            stop.set()
            taker.join()
            for conn in accepted:
                conn.close()


class SSHServer:
    """One sshd process: ``host``, ``port``, ``user``, ``host_key_line``, ``known_hosts``."""

    def __init__(self, root: Path, keys: ClientKeys, *, host_key_type: str = "ed25519",
                 extra_config: str = "", log_level: str = "ERROR", max_sessions: int = 200):
        self.root = root
        self.keys = keys
        self.host = "127.0.0.1"
        self.user = getpass.getuser()
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.host_key = root / f"ssh_host_{host_key_type}_key"
        _keygen(self.host_key, host_key_type)
        self.authorized_keys = root / "authorized_keys"
        self.authorized_keys.write_text(keys.public.read_text())
        self.log = root / "sshd.log"
        self.config = root / "sshd_config"
        self.config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile none
AuthorizedKeysFile {self.authorized_keys}
UsePAM no
StrictModes no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
PrintMotd no
PrintLastLog no
AllowTcpForwarding yes
MaxStartups 200
MaxSessions {max_sessions}
# Debian bash sources ~/.bashrc for commands run by sshd unless SHLVL says it is
# nested; a heavy .bashrc (pyenv init here) would then dominate every timing.
SetEnv SHLVL=1
LogLevel {log_level}
Subsystem sftp {SFTP_SERVER}
{extra_config}
""")
        self.proc: subprocess.Popen | None = None

    # -- trust ---------------------------------------------------------------
    @property
    def host_key_line(self) -> str:
        """The known_hosts line that trusts this server."""
        kind, blob = Path(str(self.host_key) + ".pub").read_text().split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}\n"

    def write_known_hosts(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(self.host_key_line)
        return path

    # -- life ----------------------------------------------------------------
    def start(self) -> "SSHServer":
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("sshd did not start listening")

    def children(self):
        """The per-connection sshd processes (and what they run)."""
        import psutil

        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def signal_connections(self, sig: int) -> int:
        """Send ``sig`` to every per-connection sshd process; returns how many."""
        count = 0
        for child in self.children():
            try:
                if child.name().startswith("sshd"):
                    child.send_signal(sig)
                    count += 1
            except Exception:
                pass
        return count

    def stop(self) -> None:
        if self.proc is None:
            return
        for child in self.children():  # frozen connection processes too
            try:
                child.send_signal(signal.SIGCONT)
                child.kill()
            except Exception:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def ssh_keys(tmp_path_factory) -> ClientKeys:
    if not os.path.exists(SSHD):
        pytest.skip("OpenSSH server not installed (make test installs it)")
    d = tmp_path_factory.mktemp("ssh-client")
    _keygen(d / "id_ed25519")
    return ClientKeys(d / "id_ed25519", d / "id_ed25519.pub")


@pytest.fixture(scope="session")
def sshd(ssh_keys, tmp_path_factory):
    server = SSHServer(tmp_path_factory.mktemp("sshd"), ssh_keys).start()
    yield server
    server.stop()


@pytest.fixture
def sshd_factory(ssh_keys, tmp_path):
    servers: list[SSHServer] = []

    def make(**kwargs) -> SSHServer:
        server = SSHServer(tmp_path / f"sshd-{len(servers)}", ssh_keys, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
