"""A mail sink for the demo: an SMTP server on loopback that keeps every message as a file.

``helpdesk demo`` sends its replies here, so a reply is really delivered
(queued, sent, shown as sent) while nothing leaves the machine. Each message
is written to ``<directory>/<time>-<n>.eml`` exactly as received. It speaks
just enough SMTP for a client that sends mail: EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT. Not for anything but the demo: no authentication, no TLS,
loopback only.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

MAX_MESSAGE = 25 * 1024 * 1024


class MailSink:
    """Runs on its own thread (the app's loop stays free); :meth:`stop` ends it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 5.0) -> "MailSink":
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._server.close()
                loop.run_until_complete(self._server.wait_closed())
                loop.close()

        self._thread = threading.Thread(target=main, name="demo-mail-sink", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the demo's mail sink did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode("ascii") + b"\r\n")
            await writer.drain()

        try:
            await say("220 demo-mail-sink ESMTP (helpdesk demo: nothing leaves this machine)")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].decode("ascii", "replace").upper()
                if verb == "EHLO":
                    await say("250-demo-mail-sink")
                    await say("250-8BITMIME")
                    await say("250-SMTPUTF8")
                    await say(f"250 SIZE {MAX_MESSAGE}")
                elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                    await say("250 OK")
                elif verb == "DATA":
                    await say("354 End data with <CR><LF>.<CR><LF>")
                    await say(f"250 OK: kept as {self._keep(await _read_data(reader))}")
                elif verb == "QUIT":
                    await say("221 Bye")
                    return
                else:
                    await say("502 Not implemented in the demo's sink")
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    def _keep(self, data: bytes) -> str:
        self.count += 1
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{self.count:04d}.eml"
        (self.directory / name).write_bytes(data)
        return name


async def _read_data(reader: asyncio.StreamReader) -> bytes:
    lines = []
    size = 0
    while True:
        line = await reader.readline()
        if not line or line in (b".\r\n", b".\n"):
            break
        if line.startswith(b".."):  # dot-stuffing (RFC 5321 §4.5.2)
            line = line[1:]
        size += len(line)
        if size > MAX_MESSAGE:
            raise ValueError("message too large for the demo's sink")
        lines.append(line)
    return b"".join(lines)
