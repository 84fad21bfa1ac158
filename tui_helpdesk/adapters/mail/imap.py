"""IMAP over IMAPClient, which blocks: every call runs on one worker thread.

:class:`ImapConnection` is the blocking side (one connection, one selected
mailbox); :class:`ImapWorker` owns a single-thread executor and exposes the
same operations as coroutines, so the asyncio loop (the app, ``helpdesk
sync``) never blocks on the network and IMAPClient is never used from two
threads.

Known server behaviours handled here:

- ``UID n:*`` returns the highest existing UID even when it is below *n*
  (RFC 3501 §6.4.8: ``*`` is the largest UID in use), so results are filtered.
- After a BYE or a reset, imapclient's ``idle_check()`` returns ``[]`` at once,
  forever: an empty result that came back early is checked against the socket
  and reported as :class:`ConnectionLost` instead of turning into a busy loop.
- A server that stops answering is found by leaving IDLE every keep-alive
  interval: ``DONE`` then waits under the read timeout.
- Messages are fetched with ``BODY.PEEK[]`` so fetching never sets ``\\Seen``;
  the caller flags or moves them only after its database commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...domain.mail.transport import ConnectionLost, Fetched, ImapError, Incoming, MailboxStatus
from ...settings import MailAccount
from ...domain.mail.fingerprint import content_fingerprint
from ...domain.mail.loops import Classification, classify
from ...domain.mail.message import ParsedMessage, parse_message

__all__ = [
    "ImapConnection",
    "ImapWorker",
    "parse_remote",
    "prepare",
]

T = TypeVar("T")


def prepare(fetched: Sequence[Fetched]) -> list[Incoming]:
    """Parse and classify fetched messages: pure CPU, run off the event loop."""
    out = []
    for item in fetched:
        parsed = parse_message(item.raw)
        out.append(Incoming(item.uid, item.raw, item.internaldate, parsed, classify(parsed),
                            hashlib.sha256(item.raw).hexdigest(), content_fingerprint(item.raw), seen=item.seen))
    return out


def parse_remote(raws: list[bytes]) -> list[tuple[ParsedMessage, Classification, str, str]]:
    """:func:`prepare` in a worker process; the result must pickle.

    It lives here, away from the database layer, so a worker process starts
    by importing the parser only.
    """
    out = []
    for raw in raws:
        parsed = parse_message(raw)
        kind = classify(parsed)
        # A mappingproxy does not pickle; the caller wraps the dict again.
        out.append((dataclasses.replace(parsed, loop_headers=dict(parsed.loop_headers)), kind,
                    hashlib.sha256(raw).hexdigest(), content_fingerprint(raw)))
    return out


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _network_errors() -> tuple[type[BaseException], ...]:
    from imapclient.exceptions import IMAPClientAbortError

    return (OSError, socket.timeout, IMAPClientAbortError, EOFError, ssl.SSLError)


class ImapConnection:
    """One blocking IMAP connection. Not thread-safe: use it from one thread."""

    def __init__(self, account: MailAccount, *, timeout: float = 60.0, connect_timeout: float = 15.0,
                 label: str = "imap"):
        self.account = account
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.label = label
        self.client: Any = None
        self.capabilities: frozenset[bytes] = frozenset()
        self.mailbox: str | None = None
        self._folders: set[str] = set()  # processed folders known to exist
        self.connects = 0  # connection attempts, for tests and the status line

    # ---------------------------------------------------------------- connect

    def open(self) -> None:
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError
        from imapclient.imapclient import SocketTimeout

        account = self.account
        if not account.host:
            raise ImapError(f"{self.label}: no IMAP host configured")
        security = (account.security or "tls").lower()
        if security not in ("tls", "starttls", "none"):
            raise ImapError(f"{self.label}: unknown security {account.security!r} (tls, starttls or none)")
        if security == "none" and not _is_loopback(account.host):
            # A password in clear text over the network is never acceptable.
            raise ImapError(f"{self.label}: security = \"none\" is only allowed for a loopback host")
        password = account.password.get()
        if password is None:
            raise ImapError(f"{self.label}: no IMAP password (set {account.password.env or 'password_env'} "
                            f"or password_command)")
        self.close()
        self.connects += 1
        context = ssl.create_default_context() if security != "none" else None
        port = account.port or (993 if security == "tls" else 143)
        try:
            client = IMAPClient(account.host, port=port, ssl=security == "tls", ssl_context=context,
                                timeout=SocketTimeout(self.connect_timeout, self.timeout))
        except _network_errors() as exc:
            raise ConnectionLost(f"{self.label}: cannot connect to {account.host}:{port}: {_reason(exc)}") from None
        try:
            if security == "starttls":
                client.starttls(context)
            client.login(account.username, password)
            self.capabilities = frozenset(client.capabilities())
        except LoginError:
            _quiet_logout(client)
            raise ImapError(f"{self.label}: the IMAP server refused the login for {account.username!r}") from None
        except _network_errors() as exc:
            _quiet_logout(client)
            raise ConnectionLost(f"{self.label}: {account.host}:{port}: {_reason(exc)}") from None
        self.client = client

    def close(self) -> None:
        client, self.client, self.mailbox = self.client, None, None
        if client is not None:
            _quiet_logout(client)

    @property
    def connected(self) -> bool:
        return self.client is not None

    def _run(self, what: str, fn: Callable[[], T]) -> T:
        """Run one IMAP command; network trouble becomes ConnectionLost."""
        from imapclient.exceptions import IMAPClientError

        if self.client is None:
            raise ConnectionLost(f"{self.label}: not connected")
        try:
            return fn()
        except _network_errors() as exc:
            self.close()
            raise ConnectionLost(f"{self.label}: {what}: {_reason(exc)}") from None
        except IMAPClientError as exc:
            raise ImapError(f"{self.label}: {what}: {_reason(exc)}") from None

    # --------------------------------------------------------------- mailbox

    def select(self, mailbox: str, processed_folder: str = "") -> MailboxStatus:
        info = self._run(f"select {mailbox}", lambda: self.client.select_folder(mailbox))
        if processed_folder and processed_folder not in self._folders:
            exists = self._run("list folders", lambda: self.client.folder_exists(processed_folder))
            if not exists:
                self._run(f"create {processed_folder}", lambda: self.client.create_folder(processed_folder))
            self._folders.add(processed_folder)
        self.mailbox = mailbox
        return MailboxStatus(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            exists=int(info.get(b"EXISTS", 0)),
            idle=b"IDLE" in self.capabilities,
            move=b"MOVE" in self.capabilities,
        )

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above *last_uid*, ascending (filtering the ``n:*`` quirk)."""
        found = self._run("search", lambda: self.client.search(["UID", f"{last_uid + 1}:*"]))
        return sorted(uid for uid in found if uid > last_uid)

    def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """Raw bytes and arrival time of *uids*; messages expunged meanwhile are left out."""
        if not uids:
            return []
        data = self._run("fetch", lambda: self.client.fetch(list(uids), [b"BODY.PEEK[]", b"INTERNALDATE", b"FLAGS"]))
        out = []
        for uid in uids:
            item = data.get(uid)
            if not item:
                continue
            raw = item.get(b"BODY[]")
            if raw is None:
                continue
            flags = {bytes(f).lower() if isinstance(f, bytes | bytearray) else str(f).lower().encode()
                     for f in item.get(b"FLAGS") or ()}
            out.append(Fetched(uid, bytes(raw), item.get(b"INTERNALDATE"), b"\\seen" in flags))
        return out

    def mark(self, uids: Sequence[int], processed_folder: str = "") -> None:
        """Flag ``\\Seen`` or move to *processed_folder* (after the caller committed them)."""
        if not uids:
            return
        from imapclient import DELETED, SEEN

        uids = list(uids)
        if not processed_folder:
            self._run("flag", lambda: self.client.add_flags(uids, [SEEN], silent=True))
            return
        if b"MOVE" in self.capabilities:
            self._run("move", lambda: self.client.move(uids, processed_folder))
            return
        # No MOVE: copy, mark deleted, expunge just these (UIDPLUS) or all deleted.
        self._run("copy", lambda: self.client.copy(uids, processed_folder))
        self._run("flag", lambda: self.client.add_flags(uids, [SEEN, DELETED], silent=True))
        if b"UIDPLUS" in self.capabilities:
            self._run("expunge", lambda: self.client.uid_expunge(uids))
        else:
            self._run("expunge", lambda: self.client.expunge())

    def noop(self) -> bool:
        """Ask the server for news; True when new mail may have arrived."""
        result = self._run("noop", lambda: self.client.noop())
        responses = result[1] if isinstance(result, tuple) and len(result) > 1 else []
        _check_bye(responses, self.label)
        return any(_is_news(r) for r in responses)

    # --------------------------------------------------------------- waiting

    def wait(self, seconds: float, stop: threading.Event, *, poll_chunk: float = 1.0) -> str:
        """Wait up to *seconds* for new mail: IDLE if offered, else sleep then NOOP.

        Returns ``"changed"``, ``"timeout"`` or ``"stopped"``; raises
        :class:`ConnectionLost` when the connection died meanwhile.
        """
        if self.client is None:
            raise ConnectionLost(f"{self.label}: not connected")
        if b"IDLE" not in self.capabilities:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if stop.wait(min(poll_chunk, max(0.0, deadline - time.monotonic()))):
                    return "stopped"
            return "changed" if self.noop() else "timeout"
        return self._idle(seconds, stop, poll_chunk)

    def _idle(self, seconds: float, stop: threading.Event, poll_chunk: float) -> str:
        self._run("idle", self.client.idle)
        deadline = time.monotonic() + seconds
        reason = "timeout"
        try:
            while True:
                if stop.is_set():
                    reason = "stopped"
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                chunk = min(poll_chunk, remaining)
                started = time.monotonic()
                responses = self._run("idle", lambda: self.client.idle_check(timeout=chunk))
                _check_bye(responses, self.label)
                if any(_is_news(r) for r in responses):
                    reason = "changed"
                    break
                if not responses and time.monotonic() - started < chunk * 0.5 and self._at_eof():
                    raise ConnectionLost(f"{self.label}: the server closed the connection during IDLE")
        except ConnectionLost:
            self.close()
            raise
        # DONE waits for the tagged reply under the read timeout, so a server
        # that went silent is found here.
        done = self._run("idle done", self.client.idle_done)
        if isinstance(done, tuple) and len(done) > 1:
            _check_bye(done[1], self.label)
            if reason == "timeout" and any(_is_news(r) for r in done[1]):
                reason = "changed"
        return reason

    def _at_eof(self) -> bool:
        """True when the socket is closed by the peer (readable, but no data)."""
        try:
            sock = self.client.socket()
            data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        except (OSError, AttributeError):
            return True
        finally:
            try:
                self.client._set_read_timeout()
            except Exception:  # noqa: BLE001 - the socket may be gone already
                pass
        return data == b""


def _is_news(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) > 1 and response[1] in (b"EXISTS", b"RECENT")


def _check_bye(responses: Any, label: str) -> None:
    for response in responses or ():
        if isinstance(response, tuple) and response and response[0] == b"BYE":
            raise ConnectionLost(f"{label}: the server said BYE")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _quiet_logout(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - closing a broken connection: nothing to report
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


class ImapWorker:
    """An :class:`ImapConnection` driven from asyncio through its own thread."""

    def __init__(self, account: MailAccount, *, timeout: float = 60.0, label: str = "imap"):
        self.conn = ImapConnection(account, timeout=timeout, label=label)
        self.stop_event = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{label}")
        self._closed = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        await self.call(self.conn.open)

    async def prepare(self, fetched: Sequence[Fetched]) -> list[Incoming]:
        """:func:`prepare` on this worker's thread, off the event loop."""
        return await self.call(prepare, fetched)

    async def select(self, mailbox: str, processed_folder: str = "") -> MailboxStatus:
        return await self.call(self.conn.select, mailbox, processed_folder)

    async def uids_after(self, last_uid: int) -> list[int]:
        return await self.call(self.conn.uids_after, last_uid)

    async def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        return await self.call(self.conn.fetch, uids)

    async def mark(self, uids: Sequence[int], processed_folder: str = "") -> None:
        await self.call(self.conn.mark, uids, processed_folder)

    async def wait(self, seconds: float, *, poll_chunk: float = 1.0) -> str:
        return await self.call(lambda: self.conn.wait(seconds, self.stop_event, poll_chunk=poll_chunk))

    @property
    def connected(self) -> bool:
        return self.conn.connected

    async def close(self) -> None:
        self.stop_event.set()
        if self._closed:
            return
        self._closed = True
        try:
            await self.call(self.conn.close)
        finally:
            self._executor.shutdown(wait=False)
