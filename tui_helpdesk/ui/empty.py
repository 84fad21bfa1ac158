"""What an empty ticket list says: where tickets come from and what to do next.

A new user's first screen is an empty Inbox; a brand-new desk has no ticket
anywhere. Each says what the view holds and the next step, in plain words.
"""

from __future__ import annotations

from rich.text import Text

from .text import line

NEW_DESK = (
    "A new help desk: no tickets yet. Tickets arrive from",
    "  • email: add the support address under [[desks.email]] in config.toml, then run `helpdesk sync`",
    "  • the chatbot: set [desks.chatbot] base_url (`helpdesk bot-sim` runs a simulator to try it)",
    "  • scripts: `helpdesk ticket create --requester a@example.com --subject … --body …`",
    "Teammates: `helpdesk agent add LOGIN --name …` (their OS login on this host).",
    "Just looking? `helpdesk demo` opens a desk full of tickets.",
)

BY_VIEW = {
    "inbox": ("Your Inbox is empty: open tickets assigned to you land here.",
              "Unassigned holds the ones nobody has yet (h, then j/k in the rail); t takes one."),
    "unassigned": ("Nothing unassigned: every active ticket has someone.",),
    "mentions": ("No open ticket mentions you. A teammate's @you in a note puts it here.",),
    "all": ("No open tickets. Closed and cancelled ones are in Solved.",),
}


def empty_text(view_key: str, view_name: str, filter_query: str, *, new_desk: bool) -> Text:
    """The words under an empty table for *view_key* (its rail name *view_name*)."""
    if filter_query:
        out = Text("No ticket here matches ", end="")
        out.append_text(line(filter_query, 80, style="bold"))
        out.append(". Backspace clears the filter; closed tickets are in Solved.")
        return out
    if new_desk:
        return Text("\n".join(NEW_DESK), end="")
    lines = BY_VIEW.get(view_key)
    if lines:
        return Text("\n".join(lines), end="")
    out = Text("No tickets in ", end="")
    out.append_text(line(view_name, 60, style="bold"))
    out.append(" right now.")
    return out
