"""Build ``rich.text.Text`` from untrusted strings: never markup, never escapes.

Every subject, name, body, tag or filename that reaches a widget goes through
one of these helpers. They clean the string (``domain.text``) and wrap it in a
``Text`` object, so a DataTable cell, a ``Label``, an ``OptionList`` prompt or
``notify()`` shows it literally: ``[@click=app.quit]x`` stays those characters.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rich.text import Text

from ..domain.model import Status
from ..domain.text import clean, one_line

# The style *name* is a class of the app's .tcss only where Textual allows;
# in tables Rich styles are needed, so each status maps to a theme variable
# resolved at render time by ``status_text``.
STATUS_STYLES: dict[Status, str] = {
    Status.NEW: "bold $warning",
    Status.ON_YOU: "bold $error",
    Status.ON_CUSTOMER: "$primary",
    Status.ON_HOLD: "$secondary",
    Status.CLOSED: "$success",
    Status.CANCELLED: "dim",
}
STATUS_SHORT = {
    Status.NEW: "New",
    Status.ON_YOU: "On you",
    Status.ON_CUSTOMER: "On cust.",
    Status.ON_HOLD: "On hold",
    Status.CLOSED: "Closed",
    Status.CANCELLED: "Cancelled",
}


def line(value: object, limit: int | None = None, style: str = "") -> Text:
    """One cleaned line of untrusted text, as Text."""
    return Text(one_line(None if value is None else str(value), limit), style=style, no_wrap=True, end="")


def block(value: object, style: str = "") -> Text:
    """Untrusted multi-line text (a message body), cleaned, as Text."""
    return Text(clean(None if value is None else str(value)), style=style, end="")


def plain(message: object) -> Text:
    """Text for a notification or label built from anything (an error message)."""
    return Text(clean(str(message)), end="")


def join(*parts: Text | str, sep: str = "") -> Text:
    """Concatenate Text pieces; bare strings are trusted literals (ours), never markup."""
    out = Text(end="")
    for i, part in enumerate(parts):
        if i and sep:
            out.append(sep)
        out.append_text(part) if isinstance(part, Text) else out.append(part)
    return out


def status_text(status: Status, theme_vars: dict[str, str] | None = None, short: bool = False) -> Text:
    """A coloured status label; ``theme_vars`` resolves ``$name`` against the active theme."""
    style = STATUS_STYLES[status]
    if theme_vars:
        style = " ".join(theme_vars.get(p[1:], "") if p.startswith("$") else p for p in style.split())
    else:
        style = " ".join(p for p in style.split() if not p.startswith("$"))
    label = STATUS_SHORT[status] if short else status.label
    return Text("● " + label, style=style.strip(), no_wrap=True, end="")


def humanise(at: datetime | None, now: datetime | None = None) -> str:
    """'now', '5m', '3h', '2d', '4w', then 'Mar 04', then 'Dec 2025': at most 8 cells, a table cell."""
    if at is None:
        return ""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc).replace(tzinfo=None)
    delta = now - at
    if delta < timedelta(minutes=1):
        return "now"
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)}m"
    if delta < timedelta(days=1):
        return f"{int(delta.total_seconds() // 3600)}h"
    if delta < timedelta(days=14):
        return f"{delta.days}d"
    if delta < timedelta(days=60):
        return f"{delta.days // 7}w"
    if at.year == now.year:
        return at.strftime("%b %d")
    return at.strftime("%b %Y")  # 8 cells: fits the table's date columns


def address_list(text: str) -> list[str]:
    """What an agent types in a Cc field, as addresses: commas, semicolons or spaces between, lower case.

    Whether each is an address is the service's to say (it refuses a bad one by name).
    """
    return [a.strip().lower() for a in text.replace(";", ",").replace(" ", ",").split(",") if a.strip()]
