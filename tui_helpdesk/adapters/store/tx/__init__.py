"""The store's queries, one module per area, composed into :class:`~..repository.Tx`.

Each module holds a mixin of small named queries over its tables (desks,
agents, tickets, timeline, views, saved views, change feed, drafts and
presence, leases); ``Tx`` inherits them all, so callers keep writing
``tx.insert_ticket(...)`` on one transaction object. Row-to-record mapping
shared by several areas is in :mod:`.rows`.
"""
