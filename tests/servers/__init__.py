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

One module per server (postgres, dovecot, smtp), what they share in ``base``
and the skip-or-fail rule in ``missing``; tests import from the package.
"""

from __future__ import annotations

from .base import LOOPBACK, ServerError, free_port, postgres_bin_dir
from .dovecot import DovecotServer
from .missing import missing_reason, require
from .postgres import PostgresServer
from .smtp import ReceivedMail, SmtpServer

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
