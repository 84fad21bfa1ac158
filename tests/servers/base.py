"""What every test server shares: loopback addresses, free ports, temporary
directories other users can reach, waiting for a listener, log tails, finding
server binaries, and stopping whatever is still running when the interpreter
exits.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class ServerError(RuntimeError):
    """A test server could not be started or driven (the message has its log)."""


# --------------------------------------------------------------------------
# helpers

_live: set[Any] = set()  # started servers, stopped at interpreter exit if still running


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_live):
        try:
            server.stop()
        except Exception:
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _is_root() -> bool:
    return os.geteuid() == 0


def _which(name: str) -> str | None:
    """Like shutil.which, but also looks in the sbin directories."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl."""

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(x) for x in re.findall(r"\d+", part)) or (0,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for candidate in candidates:
        directory = Path(candidate)
        if all(os.access(directory / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return directory
    return None


def _world_traversable(path: Path) -> bool:
    """Every directory from / down to path can be entered by other users."""
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            if not os.stat(part).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def _make_temp_dir(prefix: str) -> Path:
    """A fresh temporary directory that other (service) users can reach."""
    base = Path(tempfile.gettempdir())
    if _is_root() and not _world_traversable(base):
        base = Path("/tmp")
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    directory.chmod(0o755)
    return directory


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None,
                   greeting: bytes | None = None) -> bool:
    """Wait until something accepts on 127.0.0.1:port (and sends greeting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1.0) as sock:
                if greeting is None:
                    return True
                sock.settimeout(2.0)
                if sock.recv(256).startswith(greeting):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
