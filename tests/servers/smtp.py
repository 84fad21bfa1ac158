"""An aiosmtpd SMTP server on loopback that keeps what it accepts and can be
told to fail: refuse or defer a recipient, drop the next messages, stall."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass, field
from typing import Any

from .base import LOOPBACK, ServerError, _live, free_port


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
