"""Open a database: engine, SQLite pragmas, file-mode checks, schema and migrations.

SQLite is the embedded default (WAL, busy timeout). Every transaction that may
write starts with ``BEGIN IMMEDIATE``: in WAL mode a deferred transaction that
reads and then writes after another process committed fails at once with
"database is locked" whatever the busy timeout, while an immediate one waits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ...domain.errors import HelpdeskError, UnsafeDatabase
from . import tables

WRITE_OPTION = "helpdesk_write"
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def normalise_url(url: str) -> str:
    """Accept a bare path, ``sqlite:///x`` and ``postgresql://`` and pick async drivers."""
    if "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url).expanduser().resolve()}"
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def check_file_modes(path: Path, *, creating: bool) -> None:
    """Refuse a database that everyone on the host can read or write.

    A team shares the file through a group-owned directory (mode 2770, files
    0660); the world must have no access, since tickets hold customers' mail.
    """
    directory = path.parent
    if path.is_dir():
        raise HelpdeskError(f"database {path} is a directory, not a database file")
    if directory.exists() and not directory.is_dir():
        raise HelpdeskError(f"cannot use the database {path}: {directory} is not a directory")
    if not directory.exists():
        if not creating:
            raise HelpdeskError(f"database directory {directory} does not exist")
        try:
            directory.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise HelpdeskError(f"cannot create the database directory {directory}: {exc.strerror}") from None
    if not os.access(directory, os.R_OK | os.X_OK):
        raise HelpdeskError(f"cannot read the database directory {directory}: permission denied")
    dir_mode = directory.stat().st_mode
    if dir_mode & stat.S_IWOTH and not dir_mode & stat.S_ISVTX:
        raise UnsafeDatabase(
            f"database directory {directory} is world-writable; fix it with: chmod o-rwx {directory}"
        )
    candidates = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    for candidate in candidates:
        if not candidate.exists():
            continue
        mode = candidate.stat().st_mode
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            raise UnsafeDatabase(
                f"database {candidate} is readable or writable by everyone (mode {stat.filemode(mode)}); "
                f"fix it with: chmod o-rwx {candidate}"
            )
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise HelpdeskError(f"cannot open the database {path}: permission denied (ask an admin to add you to its group)")
    elif creating:
        # Group-shared directory → group read/write; otherwise private. SQLite
        # gives -wal and -shm the database file's mode.
        shared = bool(dir_mode & stat.S_IWGRP)
        try:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o660 if shared else 0o600)
            os.close(fd)
            os.chmod(path, 0o660 if shared else 0o600)
        except OSError as exc:
            raise HelpdeskError(f"cannot create the database {path}: {exc.strerror}") from None
    else:
        raise HelpdeskError(f"database {path} does not exist")


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # LIFO: the connection used last is used next, its page cache warm; with
        # the default FIFO every read went to the coldest of the pool's connections.
        # No ROLLBACK on check-in: every use ends its transaction (Store.read/write
        # commit or roll back, a bare connection rolls back when closed), and on
        # aiosqlite that needless ROLLBACK is one more trip to the driver's thread.
        # One trip to aiosqlite's thread per statement instead of four, none for a quick
        # transaction (see sqlite_driver): it uses the connection from the event loop's
        # thread too, one user at a time (the adapter's mutex), hence check_same_thread.
        from .sqlite_driver import dbapi

        module = dbapi()
        engine = create_async_engine(url, echo=echo, pool_use_lifo=True, pool_reset_on_return=None,
                                     connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                                     **({"module": module} if module is not None else {}))
        _configure_sqlite(engine)
    else:
        engine = create_async_engine(url, echo=echo, pool_size=5, max_overflow=5, pool_pre_ping=False)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy's "begin" event below emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode; only an OS crash
        # or power loss can roll back the last transactions.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-32000")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(conn: Connection):
        statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION, False) else "BEGIN"
        # Straight to the driver's cursor: SQLAlchemy's own statement machinery costs more
        # than the BEGIN (every transaction pays it), and there is no result to read.
        dbapi_connection = conn.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        except dbapi_connection.dbapi.Error as error:
            raise DBAPIError.instance(statement, (), error, dbapi_connection.dbapi.Error) from error
        finally:
            cursor.close()


# ---------------------------------------------------------------- full-text search

# SQLite: one FTS5 index over every message, reply and note, keyed by ticket:
# rowid = ticket id * 2**20 + the entry's position in its ticket. A view's text
# filter reads ticket ids straight off the index (rowid >> 20) instead of
# visiting each matching entry — a common word matches a tenth of a million
# entries. Contentless: the text lives in ``entry`` only. Entries are never
# deleted, so positions stay unique; a ticket's entries past the 1,048,575th
# are not indexed.
FTS_SHIFT = 20
FTS_TABLE = """CREATE VIRTUAL TABLE IF NOT EXISTS ticket_fts USING fts5(
        body, search_extra, content='', tokenize="unicode61 remove_diacritics 2")"""
FTS_TRIGGER = f"""CREATE TRIGGER IF NOT EXISTS ticket_fts_insert AFTER INSERT ON entry
        WHEN new.kind != 'event' OR new.search_extra IS NOT NULL
        BEGIN
            INSERT INTO ticket_fts(rowid, body, search_extra)
            SELECT (new.ticket_id << {FTS_SHIFT}) + n, new.body, new.search_extra
            FROM (SELECT count(*) AS n FROM entry WHERE ticket_id = new.ticket_id)
            WHERE n < {1 << FTS_SHIFT};
        END"""
# Index what is already there (a migration from an older search index).
FTS_BACKFILL = f"""INSERT INTO ticket_fts(rowid, body, search_extra)
        SELECT (ticket_id << {FTS_SHIFT}) + n, body, search_extra FROM (
            SELECT ticket_id, kind, body, search_extra,
                   row_number() OVER (PARTITION BY ticket_id ORDER BY id) AS n
            FROM entry)
        WHERE (kind != 'event' OR search_extra IS NOT NULL) AND n < {1 << FTS_SHIFT}"""
SQLITE_FTS = [FTS_TABLE, FTS_TRIGGER]
POSTGRES_FTS = [
    """CREATE INDEX IF NOT EXISTS ix_entry_fts ON entry USING gin
        (to_tsvector('simple', body || ' ' || coalesce(search_extra, '')))
        WHERE kind <> 'event' OR search_extra IS NOT NULL""",
]


def create_schema(conn: Connection) -> None:
    """Create every table at the current schema, with search, and stamp it."""
    tables.load_channel_tables()
    tables.metadata.create_all(conn)
    for ddl in SQLITE_FTS if conn.dialect.name == "sqlite" else POSTGRES_FTS:
        conn.exec_driver_sql(ddl)
    _alembic(conn, "stamp")


def _alembic_config(conn: Connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _alembic(conn: Connection, action: str) -> None:
    from alembic import command

    config = _alembic_config(conn)
    if action == "stamp":
        command.stamp(config, "head")
    else:
        command.upgrade(config, "head")


def _revision_graph() -> dict[str, tuple[str, ...]]:
    """revision -> its down revisions, read from the migration files.

    Importing Alembic costs about a third of a second; every command opens the
    store, and a current database needs only this comparison.
    """
    import re

    graph: dict[str, tuple[str, ...]] = {}
    for file in (MIGRATIONS / "versions").glob("*.py"):
        source = file.read_text(encoding="utf-8")
        rev = re.search(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", source, re.M)
        down = re.search(r"^down_revision\s*(?::[^=]*)?=\s*(.*)$", source, re.M)
        if rev:
            graph[rev.group(1)] = tuple(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1))) if down else ()
    return graph


def head_revision() -> str:
    graph = _revision_graph()
    heads = set(graph) - {d for downs in graph.values() for d in downs}
    if len(heads) == 1:
        return heads.pop()
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def known_revision(revision: str) -> bool:
    return revision in _revision_graph()


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def prepare(conn: Connection, *, upgrade: bool = False) -> str:
    """Bring a freshly opened database to a usable state; say what was done.

    An empty database is created at the current schema. An older one is
    upgraded only when asked (``helpdesk db upgrade``): on a shared host a
    schema change should be a deliberate step, not a side effect of opening.
    """
    revision = current_revision(conn)
    head = head_revision()
    if revision is None:
        if inspect(conn).has_table("ticket"):
            raise HelpdeskError("database has tickets but no schema version; it was not made by helpdesk")
        create_schema(conn)
        return "created"
    if revision == head:
        return "current"
    if not known_revision(revision):
        raise HelpdeskError(
            f"database schema is at revision {revision}, newer than this helpdesk knows ({head}); "
            f"install the helpdesk version that upgraded it"
        )
    if upgrade:
        _alembic(conn, "upgrade")
        return "upgraded"
    raise HelpdeskError(
        f"database schema is at revision {revision}, this helpdesk needs {head}: run 'helpdesk db upgrade'"
    )
