"""Send stored messages over SMTP (aiosmtplib), one reused connection per account.

:meth:`SmtpSender.send` never raises for a delivery problem: it returns one
:class:`RecipientResult` per recipient, classified for the outbox:

- ``sent``: the server took responsibility (2xx after the final dot);
- ``retry``: a 4xx reply or a network error *before* the final dot — the server
  has not accepted the message, so sending again cannot duplicate it;
- ``failed``: a 5xx reply — permanent, shown on the ticket;
- ``unknown``: no reply (timeout, connection dropped) *after* the final dot.
  The server may have accepted the message and a resend could duplicate it,
  so the outbox shows it instead of resending.

To know which side of the final dot a failure happened on, DATA is driven in
two steps here (the ``DATA`` command, then the payload and its reply) instead
of aiosmtplib's ``data()``, which reports both phases the same way.
"""

from __future__ import annotations

import ipaddress
import re
import ssl

from ...domain.mail.transport import FAILED, RETRY, SENT, UNKNOWN, RecipientResult, SmtpError
from ...domain.text import one_line
from ...settings import MailAccount

__all__ = ["SmtpSender"]

_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _state_for(code: int | None) -> str:
    if code is not None and 200 <= code < 300:
        return SENT
    if code is not None and 500 <= code < 600:
        return FAILED
    return RETRY


def _one_line(text: object, limit: int = 300) -> str:
    # Server replies end up on the ticket's timeline: cleaned like any untrusted text.
    return one_line(str(text or ""), limit)


def dot_stuffed(raw: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, the final dot."""
    data = _LINE_ENDS.sub(b"\r\n", raw)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _LEADING_DOT.sub(b"..", data) + b".\r\n"


class SmtpSender:
    """One SMTP account. Keeps its connection open between messages."""

    def __init__(self, account: MailAccount, *, timeout: float = 30.0, data_timeout: float = 120.0,
                 local_hostname: str | None = None, label: str = "smtp"):
        self.account = account
        self.timeout = timeout
        # How long to wait for the reply to the final dot before calling it unknown.
        self.data_timeout = data_timeout
        self.local_hostname = local_hostname
        self.label = label
        self._smtp = None
        self.connects = 0

    # ------------------------------------------------------------- connection

    def check(self) -> None:
        account = self.account
        if not account.host:
            raise SmtpError(f"{self.label}: no SMTP host configured")
        security = (account.security or "tls").lower()
        if security not in ("tls", "starttls", "none"):
            raise SmtpError(f"{self.label}: unknown security {account.security!r} (tls, starttls or none)")
        if security == "none" and not _is_loopback(account.host) and account.username:
            raise SmtpError(f"{self.label}: security = \"none\" with a password is only allowed for a loopback host")

    async def _connect(self):
        import aiosmtplib

        self.check()
        account = self.account
        security = (account.security or "tls").lower()
        context = ssl.create_default_context() if security != "none" else None
        port = account.port or {"tls": 465, "starttls": 587}.get(security, 25)
        smtp = aiosmtplib.SMTP(
            hostname=account.host, port=port, timeout=self.timeout, use_tls=security == "tls",
            start_tls=True if security == "starttls" else False, tls_context=context,
            local_hostname=self.local_hostname or "localhost",
        )
        self.connects += 1
        await smtp.connect()
        if account.username:
            password = account.password.get()
            if password is None:
                smtp.close()
                raise SmtpError(f"{self.label}: no SMTP password (set password_env or password_command)")
            await smtp.login(account.username, password)
        self._smtp = smtp
        return smtp

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                await smtp.quit(timeout=5)
        except Exception:  # noqa: BLE001 - closing: nothing useful to report
            smtp.close()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    # ------------------------------------------------------------------- send

    async def send(self, mail_from: str, recipients: list[str], raw: bytes) -> dict[str, RecipientResult]:
        """Try to deliver *raw* to *recipients*; one result per recipient."""
        import aiosmtplib
        from aiosmtplib.errors import (
            SMTPAuthenticationError,
            SMTPException,
            SMTPRecipientRefused,
            SMTPResponseException,
            SMTPSenderRefused,
        )

        def all_(state: str, code: int | None, text: str, who=recipients) -> dict[str, RecipientResult]:
            return {r: RecipientResult(r, state, code, _one_line(text)) for r in who}

        smtp = self._smtp
        if smtp is None or not smtp.is_connected:
            try:
                smtp = await self._connect()
            except SmtpError:
                raise
            except SMTPAuthenticationError as exc:
                # Wrong credentials: every message would fail; an admin must act.
                self._drop()
                return all_(RETRY, exc.code, f"SMTP login refused: {exc.message}")
            except (SMTPException, OSError) as exc:
                self._drop()
                return all_(RETRY, getattr(exc, "code", None), f"cannot connect: {_describe(exc)}")

        # Envelope. A reused connection may have been closed by the server
        # while idle: that shows up here, before anything was sent.
        try:
            await smtp.mail(mail_from)
        except SMTPSenderRefused as exc:
            await self._reset()
            return all_(_state_for(exc.code), exc.code, f"MAIL FROM refused: {exc.message}")
        except (SMTPException, OSError) as exc:
            self._drop()
            return all_(RETRY, getattr(exc, "code", None), f"connection lost: {_describe(exc)}")

        results: dict[str, RecipientResult] = {}
        accepted: list[str] = []
        for rcpt in recipients:
            try:
                await smtp.rcpt(rcpt)
            except SMTPRecipientRefused as exc:
                results[rcpt] = RecipientResult(rcpt, _state_for(exc.code), exc.code, _one_line(exc.message))
                if exc.code == 421:  # the server is closing the connection
                    self._drop()
                    results.update(all_(RETRY, 421, "server closed the connection",
                                        [r for r in recipients if r not in results]))
                    results.update(all_(RETRY, 421, "server closed the connection", accepted))
                    return results
                continue
            except (SMTPException, OSError) as exc:
                self._drop()
                rest = [r for r in recipients if r not in results]
                results.update(all_(RETRY, getattr(exc, "code", None), f"connection lost: {_describe(exc)}", rest))
                return results
            accepted.append(rcpt)
        if not accepted:
            await self._reset()
            return results

        # DATA, step one: nothing of the message has been sent yet.
        try:
            start = await smtp.execute_command(b"DATA")
        except (SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            results.update(all_(RETRY, None, f"DATA: {_describe(exc)}", accepted))
            return results
        if start.code != 354:
            if start.code == 421:
                self._drop()
            else:
                await self._reset()
            results.update(all_(_state_for(start.code), start.code, f"DATA refused: {start.message}", accepted))
            return results

        # Step two: the payload and the final dot. From here on, no reply
        # means we cannot know whether the server kept the message.
        protocol = smtp.protocol
        try:
            protocol.write(dot_stuffed(raw))
        except (SMTPException, OSError) as exc:
            self._drop()
            results.update(all_(UNKNOWN, None, f"connection lost while sending: {_describe(exc)}", accepted))
            return results
        try:
            reply = await protocol.read_response(timeout=self.data_timeout)
        except aiosmtplib.SMTPTimeoutError:
            self._drop()
            results.update(all_(UNKNOWN, None, f"no reply within {self.data_timeout:g} s after the message was sent",
                                accepted))
            return results
        except SMTPResponseException as exc:
            self._drop()
            results.update(all_(UNKNOWN, exc.code, f"unreadable reply after the message was sent: {exc.message}",
                                accepted))
            return results
        except (SMTPException, OSError) as exc:
            self._drop()
            results.update(all_(UNKNOWN, None, f"connection lost after the message was sent: {_describe(exc)}",
                                accepted))
            return results
        if reply.code == 421:
            self._drop()
        results.update(all_(_state_for(reply.code), reply.code, reply.message, accepted))
        return results

    async def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except Exception:  # noqa: BLE001 - a connection that cannot RSET is dropped
            self._drop()


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return _one_line(text, 200)
