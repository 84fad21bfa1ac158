"""Email for the help desk: parsing inbound mail, recognising machine mail,
signed Message-IDs and composing replies.

The modules here are pure (no database, no network), so the IMAP sync and the
SMTP outbox can share them and tests can run them without servers.
"""
