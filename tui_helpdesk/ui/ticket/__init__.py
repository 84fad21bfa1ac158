"""The ticket screen: timeline, details panel and composer for one ticket.

:mod:`.screen` holds :class:`~.screen.TicketScreen` (layout, focus, keys,
notifications), composed of three parts, each a mixin with one job:
:mod:`.loading` (the first frame, older pages, live updates from the app's
change feed, presence, delivery states), :mod:`.send` (drafts, sending and
collisions, ``$EDITOR``) and :mod:`.actions` (status, assignment, closing,
allowing AI replies, attachments, resending, canned replies: every dialog the
screen opens). :mod:`.commands` lists the screen's actions in the command
palette.
"""
