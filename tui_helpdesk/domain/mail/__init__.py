"""Email rules of the help desk, without any I/O: reading an inbound message
(:mod:`.message` and the modules it is built from), telling people from
machines (:mod:`.loops`), signed Message-IDs and subject tags (:mod:`.msgid`)
and building the bytes of a reply (:mod:`.compose`).

Everything here works on bytes and strings handed in by the caller, so the
IMAP sync and the SMTP outbox in :mod:`tui_helpdesk.adapters.mail` can share it
and tests can run it without servers.
"""
