"""A private PostgreSQL cluster on loopback: initdb into a temporary directory,
pg_ctl on a free port, one fresh database per test."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from .base import LOOPBACK, ServerError, _is_root, _live, _make_temp_dir, _tail, _which, free_port, postgres_bin_dir
from .missing import missing_reason


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
