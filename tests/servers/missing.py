"""Missing servers: a test that needs one skips with a loud reason locally,
and fails when ``CI=true`` (under CI a missing server is an error, never a
silent skip). ``scripts/test.sh`` installs what is missing.
"""

from __future__ import annotations

import glob
import os
import pwd

from .base import _is_root, _which, postgres_bin_dir

_INSTALL_HINT = "run scripts/test.sh (it installs missing servers) or: apt-get install -y {pkg}"


def missing_reason(kind: str) -> str | None:
    """Why the server `kind` cannot run here, or None when it can.

    kind is one of "postgres", "dovecot", "smtp", "tmux".
    """
    if kind == "postgres":
        if postgres_bin_dir() is None:
            return ("PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                    + _INSTALL_HINT.format(pkg="postgresql"))
        if _is_root():
            if _which("runuser") is None:
                return "PostgreSQL refuses to run as root and runuser is missing"
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "PostgreSQL refuses to run as root and there is no 'postgres' user"
        return None
    if kind == "dovecot":
        if _which("dovecot") is None or _which("doveadm") is None:
            return "Dovecot IMAP server is not installed; " + _INSTALL_HINT.format(pkg="dovecot-imapd")
        if not os.path.exists("/usr/lib/dovecot/imap") and not glob.glob("/usr/*/dovecot/imap"):
            return "Dovecot is installed without its IMAP service; " + _INSTALL_HINT.format(pkg="dovecot-imapd")
        try:
            import imapclient  # noqa: F401
        except ImportError:
            return "imapclient is not installed; run: pip install -e '.[test]'"
        return None
    if kind == "smtp":
        try:
            import aiosmtpd  # noqa: F401
        except ImportError:
            return "aiosmtpd is not installed; run: pip install -e '.[test]'"
        return None
    if kind == "tmux":
        if _which("tmux") is None:
            return "tmux is not installed; " + _INSTALL_HINT.format(pkg="tmux")
        return None
    raise ValueError(f"unknown server kind {kind!r}")


def require(kind: str) -> None:
    """Skip the calling test if server `kind` is missing; fail instead under CI=true."""
    reason = missing_reason(kind)
    if reason is None:
        return
    import pytest

    message = f"MISSING TEST SERVER [{kind}]: {reason}"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(message + " (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(message)
