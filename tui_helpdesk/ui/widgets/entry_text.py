"""How one timeline entry reads: untrusted text made safe, times, quoted history, delivery.

Untrusted text (bodies, author names, filenames) reaches the terminal only as
``rich.text.Text`` built from :func:`tui_helpdesk.domain.text.clean` output,
never as markup, through the helpers at the top of this module (the details
panel, the composer and the dialogs use them too). :func:`entry_texts` renders
an entry, with its reply's :class:`~tui_helpdesk.domain.delivery.Delivery`, to
the ``Text`` parts the :class:`~tui_helpdesk.ui.widgets.timeline.Timeline`
draws; it knows nothing of widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from rich.text import Text

from ...domain.ai import language_name
from ...domain.delivery import Delivery
# Quoted history is folded by the same rule mail parsing uses: one rule, in the core.
from ...domain.mail.joined import joined_label
from ...domain.mail.quotes import split_quoted
from ...domain.mentions import _MENTION as MENTION_RE  # the same rule the service uses
from ...domain.model import EntryKind, TimelineEntry
from ...domain.text import clean, one_line
from .attachments import attachments_of, human_size

# --------------------------------------------------------------- safe text


def safe_text(value: object, style: str = "") -> Text:
    """Untrusted multi-line text as Text: cleaned, never parsed as markup."""
    return Text(clean(None if value is None else str(value)), style=style, end="")


def safe_line(value: object, limit: int | None = None, style: str = "") -> Text:
    """Untrusted text for one line (a name, a subject, a filename)."""
    return Text(one_line(None if value is None else str(value), limit), style=style, no_wrap=True, end="")


# ------------------------------------------------------------------ times


def local(at: datetime) -> datetime:
    """Stored times are naive UTC; show them in the terminal's time zone."""
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone()


def ago(at: datetime, now: datetime) -> str:
    seconds = (now - at).total_seconds()
    if seconds < 45:
        return "just now"
    for size, unit in ((86400 * 365, "y"), (86400 * 30, "mo"), (86400 * 7, "w"), (86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def when(at: datetime, now: datetime) -> str:
    """``Mar 02 09:15 · 3h ago`` (the year is added when it is not this year's)."""
    shown = local(at)
    fmt = "%b %d %H:%M" if shown.year == local(now).year else "%Y %b %d %H:%M"
    return f"{shown.strftime(fmt)} · {ago(at, now)}"


# ------------------------------------------------------------------ entries

@dataclass(frozen=True, slots=True)
class Parts:
    """An entry's body split once: the new text and the folded history."""

    new: str
    quoted: str


def entry_parts(entry: TimelineEntry) -> Parts:
    body = clean(entry.body)
    quoted = entry.meta.get("quoted") if isinstance(entry.meta, dict) else None
    if isinstance(quoted, str) and quoted.strip():
        return Parts(body, clean(quoted))
    if entry.kind is EntryKind.MESSAGE:
        new, old = split_quoted(body)
        return Parts(new, old)
    return Parts(body, "")


def delivery_label(delivery: Delivery) -> str:
    """A reply's delivery as its header shows it."""
    where = " to the chat" if delivery.channel == "chat" else ""
    return {
        "queued": "◷ queued",
        "sending": "◷ sending",
        "retrying": "◷ retrying",
        "sent": f"✓ sent{where}",
        "failed": f"✗ failed{where}",
        "unknown": "? delivery unknown",
        "suppressed": "✗ not sent",
    }.get(delivery.state, delivery.state)


DELIVERY_STYLE = {"queued": "italic", "sending": "italic", "retrying": "bold italic", "sent": "dim",
                  "failed": "bold reverse", "unknown": "bold reverse", "suppressed": "bold reverse"}


@dataclass(frozen=True, slots=True)
class EntryTexts:
    """What one entry shows: the main part, then (when it has history) the fold line and the history."""

    main: Text
    fold: Text | None = None
    quoted: Text | None = None

    @property
    def plain(self) -> str:
        return "\n".join(t.plain for t in (self.main, self.fold, self.quoted) if t is not None)


@dataclass(frozen=True, slots=True)
class Translated:
    """A customer message's translation as the timeline shows it.

    ``state``: ``pending`` (being translated), ``done``, ``long`` (translated on
    demand only), ``failed``. ``original`` is the agent's "show original" toggle.
    """

    state: str
    language: str  # the customer's language, by name
    text: str = ""
    original: bool = False


def translation_note(t: Translated, key: str) -> str:
    how = f"{key}: " if key else ""
    if t.state == "pending":
        return f"translating from {t.language}…"
    if t.state == "long":
        return f"long {t.language} message · {how}translate"
    if t.state == "failed":
        return f"translation failed · {how}retry"
    if t.original:
        return f"original ({t.language}) · {how}show translation"
    return f"translated from {t.language} · {how}show original"


def sent_original(entry: TimelineEntry) -> tuple[str, str | None] | None:
    """(the agent's own text, the language code it was translated into) of a reply sent translated."""
    meta = entry.meta if isinstance(entry.meta, dict) else {}
    original = meta.get("original") if entry.kind is EntryKind.REPLY else None
    if not isinstance(original, dict) or not isinstance(original.get("text"), str) or not original["text"]:
        return None
    language = original.get("language")
    return original["text"], language if isinstance(language, str) and language else None


def sent_note(language: str | None, showing_original: bool, key: str) -> str:
    how = f"{key}: " if key else ""
    into = f" into {language_name(language)}" if language else ""
    if showing_original:
        return f"the agent's original, before translation · {how}show what was sent"
    return f"sent as an AI translation{into} · {how}show the agent's original"


def entry_texts(entry: TimelineEntry, now: datetime, *, expanded: bool = False, parts: Parts | None = None,
                delivery: Delivery | None = None, hints: dict[str, str] | None = None,
                translation: Translated | None = None) -> EntryTexts:
    """One entry as Text: a header line (with a reply's delivery), the body, attachments and the quote fold."""
    hints = hints or {}
    if entry.kind is EntryKind.EVENT:
        # A quiet event (an acknowledgement held back on purpose) is routine: dim.
        quiet = isinstance(entry.meta, dict) and entry.meta.get("quiet") is True
        out = Text(no_wrap=True, overflow="ellipsis", end="", style="dim" if quiet else "")
        out.append(f"• {local(entry.created_at).strftime('%b %d %H:%M')}  ")
        out.append_text(safe_line(entry.body))
        return EntryTexts(out)
    out = Text(end="")
    if entry.kind is EntryKind.NOTE:
        out.append(" INTERNAL NOTE ", style="bold reverse")
        out.append("  ")
        out.append_text(safe_line(entry.author, 80, style="bold"))
    else:
        out.append_text(safe_line(entry.author, 80, style="bold"))
        out.append("  ")
        out.append("customer" if entry.kind is EntryKind.MESSAGE else "replied", style="italic")
    out.append(f"  {when(entry.created_at, now)}", style="dim")
    if entry.kind is EntryKind.MESSAGE:
        meta = entry.meta if isinstance(entry.meta, dict) else {}
        if isinstance(meta.get("split_to"), int):
            out.append(f"  split off into #{meta['split_to']}", style="bold")
        joined = joined_label(meta)
        if joined:
            out.append(f"\njoined: {joined}", style="dim italic")
    if delivery is not None:
        out.append("  ")
        label = delivery_label(delivery)
        out.append(f" {label} " if delivery.problem else label,
                   style=DELIVERY_STYLE.get(delivery.state, ""))
        if delivery.reason and (delivery.problem or delivery.state == "retrying"):
            out.append("\n")
            out.append_text(safe_line(delivery.reason, 300, style="italic"))
        if delivery.resendable and hints.get("resend"):
            out.append(f"  {hints['resend']}: resend", style="dim")
    parts = parts or entry_parts(entry)
    body = Text(parts.new, end="")
    if translation is not None and entry.kind is EntryKind.MESSAGE:
        out.append(f"  {translation_note(translation, hints.get('original', ''))}", style="italic")
        if translation.state == "done" and not translation.original:
            # Model output: cleaned like any untrusted text, never markup.
            body = Text(clean(translation.text), end="")
    sent = sent_original(entry)
    if sent is not None:  # both versions stay visible: what the customer got, and what the agent wrote
        showing = translation is not None and translation.original
        out.append(f"  {sent_note(sent[1], showing, hints.get('original', ''))}", style="italic")
        if showing:
            body = Text(clean(sent[0]), end="")
    if entry.kind is EntryKind.NOTE:
        body.highlight_regex(MENTION_RE, "bold underline")
    out.append("\n")
    out.append_text(body)
    for i, item in enumerate(attachments_of(entry)):
        out.append("\n")
        out.append("attachment: ", style="dim")
        out.append_text(safe_line(item.name, 200, style="underline"))
        if item.size is not None:
            out.append(f" ({human_size(item.size)})", style="dim")
        if i == 0 and hints.get("attachments"):
            out.append(f"  {hints['attachments']}: save / open", style="dim")
    if not parts.quoted:
        return EntryTexts(out)
    lines = parts.quoted.count("\n") + 1
    if expanded:
        fold = Text(f"▾ quoted history ({lines} lines) — enter or click to fold", style="dim italic", end="",
                    no_wrap=True, overflow="ellipsis")
        return EntryTexts(out, fold, Text(parts.quoted, style="dim", end=""))
    fold = Text(f"▸ quoted history ({lines} lines) — enter or click to show", style="dim italic", end="",
                no_wrap=True, overflow="ellipsis")
    return EntryTexts(out, fold)

