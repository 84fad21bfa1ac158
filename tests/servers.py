"""Real servers on loopback for the test suite: PostgreSQL, Dovecot IMAP, SMTP.

Each class is a context manager that starts a private server on 127.0.0.1, on a
free port, in its own temporary directory, and removes everything on exit::

    with PostgresServer() as pg:
        url = pg.url(pg.create_database())       # postgresql+asyncpg://...

    with DovecotServer() as imap:                # user "support", password "secret"
        imap.append("support", "INBOX", raw_bytes)

    with SmtpServer() as smtp:
        smtp.reject_recipient("nobody@example.com")
        ...                                      # send with aiosmtplib
        smtp.received[0].data

Fixtures call ``require(kind)`` first: a missing server binary skips the test
with a loud reason locally, and fails it when ``CI=true`` (under CI a missing
server is an error, never a silent skip). ``scripts/test.sh`` installs what is
missing. The recipes follow ``shared/TESTSERVERS.md``.

Nothing here imports pytest at module level, so benchmarks can use the servers
too.
"""

from __future__ import annotations

import atexit
import email
import email.policy
import glob
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"

__all__ = [
    "LOOPBACK",
    "DovecotServer",
    "PostgresServer",
    "ReceivedMail",
    "ServerError",
    "SmtpServer",
    "free_port",
    "missing_reason",
    "postgres_bin_dir",
    "require",
]


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


# --------------------------------------------------------------------------
# missing servers: skip locally, fail under CI

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


# --------------------------------------------------------------------------
# PostgreSQL


class PostgresServer:
    """A private PostgreSQL cluster on 127.0.0.1 with trust auth for user `user`.

    Runs as the `postgres` system user when we are root (PostgreSQL refuses root).
    """

    def __init__(self, user: str = "helpdesk", *, bin_dir: str | Path | None = None,
                 start_timeout: float = 30.0) -> None:
        self.user = user
        self.host = LOOPBACK
        self.port: int | None = None
        self.bin_dir = Path(bin_dir) if bin_dir else postgres_bin_dir()
        self.start_timeout = start_timeout
        self.dir: Path | None = None
        self._started = False

    # -- lifecycle

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if _is_root():
            return [_which("runuser") or "runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str], what: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            log = _tail(self.dir / "log") if self.dir else ""
            raise ServerError(f"PostgreSQL {what} failed ({proc.returncode}):\n"
                              f"{proc.stdout}\n{proc.stderr}\n{log}")
        return proc

    def start(self) -> None:
        if self._started:
            return
        if self.bin_dir is None:
            raise ServerError(missing_reason("postgres") or "PostgreSQL not found")
        self.dir = _make_temp_dir("helpdesk-pg-")
        if _is_root():
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        try:
            self._run(self._as_server_user([
                str(self.bin_dir / "initdb"), "-D", str(self.dir / "data"),
                "-A", "trust", "-U", self.user, "-E", "UTF8", "--locale=C", "--no-sync",
            ]), "initdb")
            last_error: Exception | None = None
            for _attempt in range(3):
                self.port = free_port()
                try:
                    self._pg_ctl_start()
                    self._started = True
                    _live.add(self)
                    return
                except ServerError as error:  # port taken meanwhile: try another
                    last_error = error
            raise last_error  # type: ignore[misc]
        except BaseException:
            self._cleanup_dir()
            raise

    def _pg_ctl_start(self) -> None:
        assert self.dir is not None and self.bin_dir is not None
        options = (f"-k {self.dir} -c listen_addresses={LOOPBACK} -p {self.port} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(self._as_server_user([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
            "-w", "-t", str(int(self.start_timeout)), "start", "-o", options,
        ]), "start", timeout=self.start_timeout + 10)

    def stop(self) -> None:
        _live.discard(self)
        if self._started and self.dir is not None and self.bin_dir is not None:
            subprocess.run(self._as_server_user([
                str(self.bin_dir / "pg_ctl"), "-D", str(self.dir / "data"),
                "-m", "immediate", "-w", "stop",
            ]), capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            self._started = False
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- addresses

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL: postgresql+asyncpg://helpdesk@127.0.0.1:PORT/dbname."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq/asyncpg DSN: postgresql://helpdesk@127.0.0.1:PORT/dbname."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    # -- databases

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with psql (stops at the first error) and return its output."""
        assert self.bin_dir is not None
        proc = self._run([
            str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname, "-c", sql,
        ], "psql")
        return proc.stdout

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (from template0) and return its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"bad database name {name!r}")
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its clients."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"bad database name {name!r}")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------
# Dovecot IMAP

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


# --------------------------------------------------------------------------
# SMTP


@dataclass
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None = None

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class _SmtpRules:
    fail_replies: list[str] = field(default_factory=list)
    stalls: list[float] = field(default_factory=list)
    recipient_replies: dict[str, str] = field(default_factory=dict)


class _SmtpHandler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.owner._lock:
            reply = self.owner._rules.recipient_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        with self.owner._lock:
            self.owner.attempts += 1
            rules = self.owner._rules
            stall = rules.stalls.pop(0) if rules.stalls else None
            fail = rules.fail_replies.pop(0) if rules.fail_replies else None
        if stall is not None:
            await asyncio.sleep(stall)
        if fail is not None:
            if fail.startswith("421"):
                # a real server closes the connection after 421
                asyncio.get_running_loop().call_soon(server.transport.close)
            return fail
        login = session.auth_data if isinstance(session.auth_data, str) else None
        mail = ReceivedMail(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            login=login,
        )
        with self.owner._cond:
            self.owner._received.append(mail)
            self.owner._cond.notify_all()
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd SMTP server on 127.0.0.1 that stores what it accepts.

    users: when given, AUTH PLAIN/LOGIN is offered (without TLS) and checked
    against it; auth_required makes it mandatory. Failure modes (thread-safe,
    callable while the server runs):

    - fail_next(count, reply): the next `count` messages get `reply` after DATA
      (default 421, which also closes the connection);
    - reject_recipient(address): 550 for that RCPT;
    - defer_recipient(address): 450 for that RCPT (partial refusal);
    - stall_next(seconds, count): sleep after DATA before answering;
    - accept_all(): forget every failure mode.
    """

    def __init__(self, users: dict[str, str] | None = None, *, auth_required: bool = False) -> None:
        self.host = LOOPBACK
        self.port: int | None = None
        self.users = dict(users) if users else None
        self.auth_required = auth_required
        self.attempts = 0  # messages whose DATA completed, accepted or not
        self._received: list[ReceivedMail] = []
        self._rules = _SmtpRules()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._controller: Any = None

    # -- lifecycle

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword) or self.users is None:
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = self.users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    def start(self) -> None:
        if self._controller is not None:
            return
        from aiosmtpd.controller import Controller

        kwargs: dict[str, Any] = {}
        if self.users is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False,
                          auth_required=self.auth_required)
        last_error: Exception | None = None
        for _attempt in range(3):
            self.port = free_port()
            controller = Controller(_SmtpHandler(self), hostname=LOOPBACK, port=self.port,
                                    server_hostname="helpdesk-test", ready_timeout=10.0, **kwargs)
            try:
                controller.start()
            except Exception as error:  # port taken meanwhile: try another
                last_error = error
                try:
                    controller.stop(no_assert=True)
                except Exception:
                    pass
                continue
            self._controller = controller
            _live.add(self)
            return
        raise ServerError(f"SMTP server did not start: {last_error!r}")

    def stop(self) -> None:
        _live.discard(self)
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    # -- what arrived

    @property
    def received(self) -> list[ReceivedMail]:
        """A copy of the accepted messages, in arrival order."""
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMail]:
        """Wait until at least `count` messages arrived; raises TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(f"{len(self._received)} of {count} messages arrived in {timeout} s")
            return list(self._received)

    def clear(self) -> None:
        """Forget the received messages and the attempt count."""
        with self._lock:
            self._received.clear()
            self.attempts = 0

    # -- failure modes

    def fail_next(self, count: int = 1,
                  reply: str = "421 4.3.2 Service not available, closing transmission channel") -> None:
        with self._lock:
            self._rules.fail_replies.extend([reply] * count)

    def reject_recipient(self, address: str, reply: str = "550 5.1.1 Mailbox unavailable") -> None:
        with self._lock:
            self._rules.recipient_replies[address.lower()] = reply

    def defer_recipient(self, address: str,
                        reply: str = "450 4.2.1 Mailbox temporarily unavailable, try again later") -> None:
        with self._lock:
            self._rules.recipient_replies[address.lower()] = reply

    def stall_next(self, seconds: float = 30.0, count: int = 1) -> None:
        with self._lock:
            self._rules.stalls.extend([seconds] * count)

    def accept_all(self) -> None:
        with self._lock:
            self._rules = _SmtpRules()
