"""The key tables: every binding with an id, remappable from the config's ``[keys]``.

Tables only (ids, keys, actions, wording): the widgets and screens turn them
into bindings with :func:`tui_helpdesk.ui.keymap.bindings`, and the keymap and
the help screen read them from here without importing a screen.
"""

from __future__ import annotations

from .keymap import Key

# ------------------------------------------------------------ Ticket screen

TICKET_KEYS: tuple[Key, ...] = (
    Key("ticket.back", "escape", "back", "Back", True, "General"),
    Key("ticket.reply", "r", "reply", "Reply", True, "Tickets"),
    Key("ticket.note", "n", "note", "Note", True, "Tickets"),
    Key("ticket.status", "s", "status", "Status", True, "Tickets"),
    Key("ticket.assign", "a", "assign", "Assign", True, "Tickets"),
    Key("ticket.take", "t", "take", "Take", True, "Tickets"),
    Key("ticket.close", "c", "close_ticket", "Close", True, "Tickets"),
    Key("ticket.allow-ai", "A", "allow_ai", "Allow AI replies", False, "Tickets",
        "Allow AI replies: hand a live chat back to the chatbot and close it"),
    Key("ticket.attachments", "f", "attachments", "Attachments", False, "Tickets",
        "Save or open an attachment of the entry under the cursor"),
    Key("ticket.resend", "R", "resend", "Resend", False, "Tickets",
        "Resend the reply under the cursor (failed or unknown delivery)"),
    Key("ticket.canned", "ctrl+t", "canned", "Canned reply", False, "Tickets"),
    Key("ticket.editor", "e", "editor", "Write in $EDITOR", False, "Tickets"),
    Key("ticket.previous", "p", "previous", "Previous tickets", False, "Tickets"),
    Key("ticket.details", "i", "toggle_details", "Show / hide details", False, "General"),
    Key("ticket.refresh", "ctrl+r", "refresh", "Reload the ticket", False, "General"),
)
ALLOW_AI, ATTACHMENTS, RESEND = (next(k for k in TICKET_KEYS if k.id == i)
                                 for i in ("ticket.allow-ai", "ticket.attachments", "ticket.resend"))

TIMELINE_KEYS: tuple[Key, ...] = (
    Key("ticket.timeline.down", "j,down", "cursor_down", "Next entry / scroll", False, "Moving"),
    Key("ticket.timeline.up", "k,up", "cursor_up", "Previous entry / scroll", False, "Moving"),
    Key("ticket.timeline.first", "g,home", "first", "First loaded entry", False, "Moving"),
    Key("ticket.timeline.last", "G,end", "last", "Newest entry", False, "Moving"),
    Key("ticket.timeline.half-down", "ctrl+d", "half_page(1)", "Half a page down", False, "Moving"),
    Key("ticket.timeline.half-up", "ctrl+u", "half_page(-1)", "Half a page up", False, "Moving"),
    Key("ticket.timeline.page-down", "pagedown,space", "page(1)", "Page down", False, "Moving"),
    Key("ticket.timeline.page-up", "pageup,b", "page(-1)", "Page up", False, "Moving"),
    Key("ticket.timeline.older", "o", "load_older", "Older", True, "Moving"),
    Key("ticket.timeline.fold", "enter,z", "toggle_fold", "Show / fold quoted history", False, "Tickets"),
)

COMPOSER_KEYS: tuple[Key, ...] = (
    Key("ticket.composer.send", "ctrl+s,ctrl+enter", "send", "Send", True, "Composer"),
    Key("ticket.composer.hide", "escape", "hide", "Hide (draft kept)", True, "Composer"),
    Key("ticket.composer.mode", "ctrl+g", "toggle_mode", "Reply / note", True, "Composer"),
    Key("ticket.composer.editor", "ctrl+o", "editor", "Edit in $EDITOR", False, "Composer"),
    Key("ticket.composer.canned", "ctrl+t", "canned", "Insert a canned reply", False, "Composer"),
    Key("ticket.composer.mention-next", "ctrl+n", "mention(1)", "Next @mention match", False, "Composer"),
)

# Everything the ticket screen binds, for the keymap and the help screen.
ALL_TICKET_KEYS: tuple[Key, ...] = TICKET_KEYS + TIMELINE_KEYS + COMPOSER_KEYS
