"""Email I/O for the help desk: the IMAP connection and fetch worker, the SMTP
sender, and the file store for attachments.

The pure mail rules these use (parsing, loop detection, signed Message-IDs,
composing replies) live in :mod:`tui_helpdesk.domain.mail`.
"""
