"""A private Dovecot IMAP server on loopback with plaintext logins and Maildir
storage in a temporary directory; it can be restarted on the same port and
killed like a crash."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .base import LOOPBACK, ServerError, _is_root, _live, _make_temp_dir, _tail, _wait_for_port, _which, free_port
from .missing import missing_reason

_DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
instance_name = helpdesk-test-{port}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u/Maildir
{extra}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
  default_fields = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
{login_extra}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service imap {{
  process_limit = 64
}}
protocol imap {{
  mail_max_userip_connections = 64
}}
"""


class DovecotServer:
    """A private Dovecot 2.3 IMAP server on 127.0.0.1 with plaintext logins.

    users maps user name to password; the default is {"support": "secret"}.
    Mail is stored as Maildir under the temporary directory.
    """

    def __init__(self, users: dict[str, str] | None = None, *, start_timeout: float = 15.0) -> None:
        self.host = LOOPBACK
        self.port: int | None = None
        self.users: dict[str, str] = dict(users) if users is not None else {"support": "secret"}
        self.start_timeout = start_timeout
        self.dir: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    # -- lifecycle

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def conf(self) -> Path:
        assert self.dir is not None
        return self.dir / "dovecot.conf"

    @property
    def log(self) -> Path:
        assert self.dir is not None
        return self.dir / "dovecot.log"

    def _write_conf(self) -> None:
        assert self.dir is not None
        if _is_root():
            uid, gid, extra, login_extra = "nobody", "nogroup", "", ""
        else:  # a non-root instance runs every process as ourselves
            me = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            uid, gid = me, group
            extra = (f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                     f"default_internal_group = {group}\nservice anvil {{\n  chroot =\n}}\n")
            login_extra = "  chroot =\n"
        self.conf.write_text(_DOVECOT_CONF.format(d=self.dir, port=self.port, uid=uid, gid=gid,
                                                  extra=extra, login_extra=login_extra))

    def _write_users(self) -> None:
        assert self.dir is not None
        lines = "".join(f"{name}:{{PLAIN}}{password}::::::\n" for name, password in self.users.items())
        path = self.dir / "users"
        tmp = self.dir / "users.tmp"
        tmp.write_text(lines)
        tmp.chmod(0o644)
        os.replace(tmp, path)

    def start(self) -> None:
        """Start the server (on a new free port the first time)."""
        if self._proc is not None:
            return
        if _which("dovecot") is None:
            raise ServerError(missing_reason("dovecot") or "dovecot not found")
        first = self.dir is None
        if first:
            self.dir = _make_temp_dir("helpdesk-imap-")
            mail = self.dir / "mail"
            mail.mkdir()
            if _is_root():
                os.chown(mail, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
            self._write_users()
        try:
            if first:
                last_error = ""
                for _attempt in range(3):  # a port taken meanwhile: try another
                    self.port = free_port()
                    self._write_conf()
                    if self._launch(self.start_timeout):
                        _live.add(self)
                        return
                    last_error = _tail(self.log)
                raise ServerError(f"Dovecot did not start:\n{last_error}")
            # restart on the same port: the old listener may linger for a moment
            deadline = time.monotonic() + self.start_timeout
            while True:
                if self._launch(max(1.0, deadline - time.monotonic())):
                    return
                if time.monotonic() >= deadline:
                    raise ServerError(f"Dovecot did not restart on port {self.port}:\n{_tail(self.log)}")
                time.sleep(0.1)
        except BaseException:
            self._kill_group()
            if first:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            raise

    def _launch(self, timeout: float) -> bool:
        """Start dovecot in the foreground of a new process group; True once it greets."""
        assert self.port is not None
        self._proc = subprocess.Popen(
            [_which("dovecot") or "dovecot", "-F", "-c", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if _wait_for_port(self.port, timeout, self._proc, b"* OK"):
            return True
        self._kill_group()
        return False

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        _live.discard(self)
        self._shutdown()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def restart(self) -> None:
        """Stop and start again on the same port, keeping users and mail."""
        self._shutdown()
        self.start()

    def kill(self) -> None:
        """Kill every process of the server at once (a crash); start() brings it back."""
        self._kill_group()

    def _shutdown(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None and self.dir is not None:
            # doveadm polls for a few seconds after the master has gone: wait for
            # the master itself (about 1 s), then end doveadm too
            doveadm = subprocess.Popen([_which("doveadm") or "doveadm", "-c", str(self.conf), "stop"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                doveadm.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                doveadm.kill()
                doveadm.wait()
        self._kill_group()
        # wait until the listener is gone, so the port can be bound again
        deadline = time.monotonic() + 5
        while self.port and time.monotonic() < deadline:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
            except OSError:
                break
            time.sleep(0.05)

    def _kill_group(self) -> None:
        """Kill the master (by its pid) and any leftover child in its process group."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    # -- users

    def add_user(self, name: str, password: str) -> None:
        """Add (or change) a user; the running server sees it when this returns."""
        self.add_users({name: password})

    def add_users(self, users: dict[str, str]) -> None:
        """Add (or change) several users, waiting at most once for Dovecot to notice."""
        for name, password in users.items():
            if not name or any(c in name for c in ":\n\r\t ") or any(c in password for c in ":\n\r"):
                raise ValueError(f"bad user name or password for {name!r}")
        with self._lock:
            self.users.update(users)
            if self.dir is None:
                return
            self._write_users()
            if self._proc is not None:
                # Dovecot checks the passwd-file for changes at most once per
                # second (per wall-clock second of its event loop): a lookup in
                # the next second is sure to see the new file.
                now = time.time()
                time.sleep(int(now) + 1 - now + 0.02)

    # -- mail

    def client(self, user: str = "support", *, timeout: float = 10.0) -> Any:
        """A logged-in imapclient.IMAPClient; the caller logs out (it is a context manager)."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        client.login(user, self.users[user])
        return client

    def create_mailbox(self, user: str, mailbox: str) -> None:
        with self.client(user) as client:
            if not client.folder_exists(mailbox):
                client.create_folder(mailbox)

    def append(self, user: str, mailbox: str, raw: bytes, flags: tuple = (),
               msg_time: Any = None) -> int | None:
        """Append one raw message (creating the mailbox if needed); returns its UID."""
        with self.client(user) as client:
            if mailbox.upper() != "INBOX" and not client.folder_exists(mailbox):
                client.create_folder(mailbox)
            response = client.append(mailbox, raw, flags=flags, msg_time=msg_time)
        if isinstance(response, bytes):
            response = response.decode("ascii", "replace")
        match = re.search(r"APPENDUID \d+ (\d+)", str(response))
        return int(match.group(1)) if match else None

    def messages(self, user: str, mailbox: str = "INBOX") -> list[tuple[int, bytes]]:
        """(uid, raw bytes) of every message in a mailbox, oldest first; [] if none."""
        with self.client(user) as client:
            if mailbox.upper() != "INBOX" and not client.folder_exists(mailbox):
                return []
            client.select_folder(mailbox, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]"])
            return [(uid, data[uid][b"BODY[]"]) for uid in sorted(data)]
