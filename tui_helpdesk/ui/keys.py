"""Every key table of the app: each binding's id, keys, action and help wording.

Plain data (no Textual): the screens turn a table into bindings with
``keymap.bindings``, and the keymap, the help screen and the command palette
read the tables from here, so none of them has to import a screen to learn
its keys. A binding id is what ``[keys]`` in config.toml remaps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    show: bool = False
    group: str = ""
    long: str = ""  # the help screen's wording, when the footer's is short

    @property
    def help(self) -> str:
        return self.long or self.description


APP_KEYS: tuple[Key, ...] = (
    Key("app.help", "question_mark,f1", "help", "Help", True, "General", "Help: every key"),
    Key("app.palette", "colon,ctrl+p", "command_palette", "Command palette", False, "General"),
)

INBOX_KEYS: tuple[Key, ...] = (
    Key("inbox.filter", "slash", "filter", "Filter", True, "Filters and views", "Filter / search (query language)"),
    Key("inbox.filter-builder", "F", "filter_builder", "Filter builder", False, "Filters and views"),
    Key("inbox.clear-filter", "backspace", "clear_filter", "Clear the filter", False, "Filters and views"),
    Key("inbox.save-view", "S", "save_view", "Save filter as a view", False, "Filters and views"),
    Key("inbox.edit-view", "E", "edit_view", "Edit this view", False, "Filters and views"),
    Key("inbox.delete-view", "D", "delete_view", "Delete this view", False, "Filters and views"),
    Key("inbox.columns", "C", "columns", "Choose columns", False, "Filters and views"),
    Key("inbox.sort", "o", "sort_next", "Sort by the next column", False, "Filters and views"),
    Key("inbox.sort-reverse", "O", "sort_reverse", "Reverse the sort", False, "Filters and views"),
    Key("inbox.next-view", "right_square_bracket", "next_view", "Next view", False, "Filters and views"),
    Key("inbox.prev-view", "left_square_bracket", "prev_view", "Previous view", False, "Filters and views"),
    Key("inbox.focus-rail", "h", "focus_rail", "Focus the view rail", False, "Filters and views"),
    Key("inbox.focus-table", "l", "focus_table", "Focus the ticket table", False, "Filters and views"),
    Key("inbox.new-ticket", "N", "new_ticket", "New ticket", False, "Tickets",
        "New ticket: an email to a customer, or an internal ticket"),
    Key("inbox.reply", "r", "reply", "Reply", True, "Tickets"),
    Key("inbox.note", "n", "note", "Note", True, "Tickets", "Internal note"),
    Key("inbox.assign", "a", "assign", "Assign", True, "Tickets", "Assign to an agent…"),
    Key("inbox.take", "t", "take", "Take", True, "Tickets", "Take (assign to me)"),
    Key("inbox.status", "s", "status", "Status", True, "Tickets", "Set status…"),
    Key("inbox.close", "c", "close_ticket", "Close", True, "Tickets"),
    Key("inbox.tag", "plus", "tag", "Tags…", False, "Tickets", "Add or remove tags (-tag removes)"),
    Key("inbox.undo", "u", "undo", "Undo", False, "Tickets", "Undo the last close, status, assignment or tags (a few seconds)"),
    Key("inbox.select", "space", "toggle_select", "Select / unselect", False, "Tickets"),
    Key("inbox.select-all", "asterisk", "select_all", "Select all loaded", False, "Tickets"),
    Key("inbox.unselect", "escape", "unselect", "Clear the selection", False, "Tickets"),
    Key("inbox.refresh", "ctrl+r", "refresh", "Refresh", False, "General"),
    Key("inbox.set-aside", "M", "set_aside", "Set-aside mail", False, "General",
        "Set-aside mail: messages that became no ticket, and why"),
    # On the inbox, not the app: a letter typed into a dialog must never quit.
    Key("app.availability", "A", "app.toggle_availability", "Toggle available / away", False, "General"),
    Key("app.settings", "comma", "app.settings", "Settings", False, "General", "Desk settings…"),
    Key("app.quit", "q", "app.quit", "Quit", True, "General"),
)

TABLE_KEYS: tuple[Key, ...] = (
    Key("table.down", "j,down", "cursor_down", "Next ticket", False, "Moving"),
    Key("table.up", "k,up", "cursor_up", "Previous ticket", False, "Moving"),
    Key("table.top", "g,home", "first", "First ticket", False, "Moving"),
    Key("table.bottom", "G,end", "last", "Last ticket", False, "Moving"),
    Key("table.half-down", "ctrl+d", "half_page_down", "Half a page down", False, "Moving"),
    Key("table.half-up", "ctrl+u", "half_page_up", "Half a page up", False, "Moving"),
    Key("table.page-down", "pagedown,ctrl+f", "page_down", "Page down", False, "Moving"),
    Key("table.page-up", "pageup,ctrl+b", "page_up", "Page up", False, "Moving"),
    Key("table.open", "enter", "select_cursor", "Open", True, "Tickets", "Open the ticket"),
)

RAIL_KEYS: tuple[Key, ...] = (
    Key("rail.down", "j", "cursor_down", "Next view", False, "Moving"),
    Key("rail.up", "k", "cursor_up", "Previous view", False, "Moving"),
)

# ------------------------------------------------------- Conversations view

CONVERSATION_KEYS: tuple[Key, ...] = (
    Key("conversations.take-over", "t", "take_over", "Take over / open ticket", True, "Tickets"),
    Key("conversations.down", "j", "move(1)", "Next conversation", False, "Moving"),
    Key("conversations.up", "k", "move(-1)", "Previous conversation", False, "Moving"),
    Key("conversations.first", "g", "move_to(0)", "First conversation", False, "Moving"),
    Key("conversations.last", "G", "move_to(-1)", "Last conversation", False, "Moving"),
    Key("conversations.refresh", "ctrl+r", "refresh_conversations", "Refresh", False, "General"),
)

# ------------------------------------------------------- Set-aside mail screen

SET_ASIDE_KEYS: tuple[Key, ...] = (
    Key("set-aside.back", "escape,q", "back", "Back", True, "General"),
    Key("set-aside.release", "R", "release", "Make it a ticket", True, "Tickets",
        "Make the set-aside message a ticket after all (no acknowledgement)"),
    Key("set-aside.released", "a", "toggle_released", "Show released too", True, "General"),
    Key("set-aside.down", "j", "move(1)", "Next message", False, "Moving"),
    Key("set-aside.up", "k", "move(-1)", "Previous message", False, "Moving"),
    Key("set-aside.more", "m", "more", "Load more", False, "Moving"),
    Key("set-aside.refresh", "ctrl+r", "refresh", "Refresh", False, "General"),
)

# ------------------------------------------------------------ Ticket screen

TICKET_KEYS: tuple[Key, ...] = (
    Key("ticket.back", "escape,q", "back", "Back", True, "General", "Back to the inbox"),
    Key("ticket.next", "J", "step(1)", "Next ticket", False, "Moving", "Next ticket of the view"),
    Key("ticket.prev", "K", "step(-1)", "Previous ticket", False, "Moving", "Previous ticket of the view"),
    Key("ticket.reply", "r", "reply", "Reply", True, "Tickets"),
    Key("ticket.note", "n", "note", "Note", True, "Tickets"),
    Key("ticket.status", "s", "status", "Status", True, "Tickets"),
    Key("ticket.assign", "a", "assign", "Assign", True, "Tickets"),
    Key("ticket.take", "t", "take", "Take", True, "Tickets"),
    Key("ticket.close", "c", "close_ticket", "Close", True, "Tickets"),
    Key("ticket.tag", "plus", "tag", "Tags…", False, "Tickets", "Add or remove tags (-tag removes)"),
    Key("ticket.undo", "u", "undo", "Undo", False, "Tickets", "Undo the last status change (a few seconds)"),
    Key("ticket.allow-ai", "A", "allow_ai", "Allow AI replies", False, "Tickets",
        "Allow AI replies: hand a live chat back to the chatbot and close it"),
    Key("ticket.attachments", "f", "attachments", "Attachments", False, "Tickets",
        "Save or open an attachment of the entry under the cursor"),
    Key("ticket.resend", "R", "resend", "Resend", False, "Tickets",
        "Resend the reply under the cursor (failed or unknown delivery)"),
    Key("ticket.split", "X", "split", "Split off", False, "Tickets",
        "Split the customer message under the cursor off into a new ticket"),
    Key("ticket.merge", "M", "merge", "Merge", False, "Tickets",
        "Merge this ticket into another ticket of the same requester"),
    Key("ticket.canned", "ctrl+t", "canned", "Canned reply", False, "Tickets"),
    Key("ticket.editor", "e", "editor", "Write in $EDITOR", False, "Tickets"),
    Key("ticket.previous", "p", "previous", "Previous tickets", False, "Tickets"),
    Key("ticket.explain", "W", "explain_assignment", "Who would get it", False, "Tickets",
        "Explain assignment: who would get this ticket now, and why not the others"),
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

# AI compose, summaries and translation on the ticket screen (function keys: they work while typing).
AI_KEYS: tuple[Key, ...] = (
    Key("ticket.ai.draft", "f2", "ai_draft", "AI draft", False, "AI", "AI: draft a reply from the conversation"),
    Key("ticket.ai.polish", "f3", "ai_polish", "AI polish", False, "AI", "AI: polish my draft"),
    Key("ticket.ai.translate", "f4", "ai_translate", "AI translate", False, "AI",
        "AI: translate my draft into the customer's language"),
    Key("ticket.ai.retry", "f5", "ai_retry", "AI retry with an instruction", False, "AI",
        "AI: retry the last action with a one-line instruction"),
    Key("ticket.ai.summarize", "S", "ai_summarize", "AI summary", False, "AI",
        "AI: summarise this ticket as an internal note"),
    Key("ticket.ai.original", "T", "toggle_original", "Show original / translation", False, "AI",
        "Show the original or the translation of the message under the cursor (a reply sent translated: yours)"),
    Key("ticket.ai.language", "L", "customer_language", "Customer language", False, "AI",
        "Set the customer's language (translation and AI compose)"),
)

AI_ORIGINAL, AI_LANGUAGE = (next(k for k in AI_KEYS if k.id == i) for i in ("ticket.ai.original", "ticket.ai.language"))

# Keys of the AI preview while it has focus.
AI_PREVIEW_KEYS: tuple[Key, ...] = (
    Key("ticket.ai.accept", "enter,y", "accept", "Accept", True, "AI", "AI preview: accept into the composer"),
    Key("ticket.ai.reject", "n,x", "reject", "Reject", True, "AI", "AI preview: reject (the draft stays)"),
    Key("ticket.ai.edit", "e", "edit", "Accept and edit in $EDITOR", True, "AI"),
    Key("ticket.ai.instruct", "i", "instruct", "Retry with an instruction", True, "AI"),
    Key("ticket.ai.cancel", "escape", "cancel", "Cancel / close", True, "AI", "AI preview: stop the answer and close"),
)

# Everything the ticket screen binds, for the keymap and the help screen.
ALL_TICKET_KEYS: tuple[Key, ...] = TICKET_KEYS + TIMELINE_KEYS + COMPOSER_KEYS + AI_KEYS + AI_PREVIEW_KEYS


# The API tokens and webhooks screen (admins; from the command palette).
INTEGRATION_KEYS: tuple[Key, ...] = (
    Key("integrations.token", "t", "new_token", "New API token", True, "General"),
    Key("integrations.webhook", "w", "new_webhook", "New webhook", True, "General"),
    Key("integrations.revoke", "r,delete", "revoke", "Revoke token / remove webhook", True, "General"),
    Key("integrations.pause", "p", "toggle_pause", "Pause / resume webhook", True, "General"),
    Key("integrations.close", "escape", "close", "Close", True, "General"),
)


ALL_KEYS: tuple[Key, ...] = APP_KEYS + INBOX_KEYS + TABLE_KEYS + RAIL_KEYS
KEY_IDS = frozenset(k.id for k in ALL_KEYS)
GROUPS = ("Moving", "Tickets", "Composer", "AI", "Filters and views", "General")
