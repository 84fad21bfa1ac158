"""Attachments of a timeline entry: listed, saved where the agent says, or opened.

A mail's attachments are kept content-addressed by the mail service
(``hd.mail.attachments``, see :mod:`tui_helpdesk.adapters.mail.attachments`);
an entry's ``meta["attachments"]`` lists them as ``{"filename", "content_type",
"size", "sha256", "inline"}``. The filename came from the sender: it is
cleaned, loses every path separator and leading dot, and is shortened before
it names a file or reaches the screen. Saving never replaces a file unless
the agent said so; opening copies the file under its clean name into a
private temporary directory and runs ``xdg-open`` on it, without a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.input import Selection
from textual.widgets.option_list import Option

from ...domain.model import TimelineEntry
from ...domain.text import one_line


def safe_line(value: object, limit: int | None = None, style: str = "") -> Text:
    """Untrusted text for one line, as Text (the timeline's helper; not imported, to avoid a cycle)."""
    return Text(one_line(None if value is None else str(value), limit), style=style, no_wrap=True, end="")

CSS_FILE = Path(__file__).resolve().parent.parent / "ticket.tcss"
MAX_NAME_BYTES = 200  # well under the 255 bytes a Linux file name may have
# Handed to a desktop opener these could run code rather than show a document.
RISKY_SUFFIXES = frozenset({
    ".desktop", ".sh", ".bash", ".zsh", ".csh", ".ksh", ".run", ".bin", ".appimage", ".exe", ".msi", ".bat",
    ".cmd", ".com", ".scr", ".ps1", ".vbs", ".js", ".jar", ".py", ".pl", ".rb", ".deb", ".rpm", ".snap",
    ".flatpakref", ".flatpakrepo", ".apk", ".dmg", ".pkg", ".lnk", ".url", ".command", ".elf", ".so",
})


def safe_filename(name: object, fallback: str = "attachment") -> str:
    """A sender's file name made safe to show and to create in a directory the agent chose.

    Controls, escapes and bidi overrides go (``clean``), and so do path
    separators (``/`` and ``\\`` become ``_``) and leading dots, so the name is
    one plain component: never ``..``, never hidden, never absolute.
    """
    text = one_line(None if name is None else str(name))
    text = text.replace("/", "_").replace("\\", "_").replace("\x00", "")
    text = text.strip().lstrip(".").strip()
    if not text:
        return fallback
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        stem, suffix = os.path.splitext(text)
        suffix = suffix if len(suffix.encode("utf-8")) <= 16 else ""
        budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip()
        text = (stem or fallback) + suffix
    return text


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str  # safe_filename() of what the sender called it
    size: int | None = None
    sha256: str | None = None  # None: listed by the sender but its content was not kept
    content_type: str = ""
    inline: bool = False

    @property
    def risky(self) -> bool:
        return Path(self.name.lower()).suffix in RISKY_SUFFIXES


def _sha(value: object) -> str | None:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def attachments_of(entry: TimelineEntry | None) -> list[Attachment]:
    """The attachments an entry's ``meta`` lists (tolerating older and odd shapes)."""
    meta = entry.meta if entry is not None and isinstance(entry.meta, dict) else {}
    items = meta.get("attachments")
    out: list[Attachment] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            size = item.get("size")
            out.append(Attachment(
                name=safe_filename(item.get("filename") or item.get("name")),
                size=size if isinstance(size, int) and size >= 0 else None,
                sha256=_sha(item.get("sha256")),
                content_type=one_line(str(item.get("content_type") or ""), 100),
                inline=bool(item.get("inline")),
            ))
        elif isinstance(item, str):
            out.append(Attachment(name=safe_filename(item)))
    return out


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


# ------------------------------------------------------------ saving, opening


def default_save_path(name: str, home: Path | None = None) -> Path:
    """``~/Downloads/<name>`` when that directory exists, else ``<cwd>/<name>``."""
    downloads = (home or Path.home()) / "Downloads"
    return (downloads if downloads.is_dir() else Path.cwd()) / safe_filename(name)


def save_attachment(store, sha256: str, destination: Path, name: str, *, overwrite: bool = False) -> Path:
    """Copy a stored attachment to *destination* (a file, or a directory to put *name* in).

    Without *overwrite* the file is created exclusively: an existing file (or
    a symlink planted there) raises ``FileExistsError`` and is left alone.
    """
    target = Path(destination).expanduser()
    if target.is_dir():
        target = target / safe_filename(name)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"no such directory: {target.parent}")
    source = store.path(sha256)
    if not source.exists():
        raise FileNotFoundError("the attachment's content is missing from the attachment store")
    if overwrite:
        return store.save_as(sha256, target)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        return store.save_as(sha256, target)
    except BaseException:
        try:
            target.unlink()
        except OSError:
            pass
        raise


def opener() -> str | None:
    """The desktop's "open this file" command, when there is one."""
    return shutil.which("xdg-open")


def open_attachment(store, attachment: Attachment) -> Path:
    """Copy the attachment under its clean name into a private directory and hand it to ``xdg-open``.

    No shell is involved; the copy is not executable (0600). Raises
    ``OSError`` when there is no opener or it cannot start.
    """
    command = opener()
    if command is None:
        raise OSError("xdg-open is not installed: save the attachment instead")
    if attachment.sha256 is None:
        raise OSError("this attachment's content was not kept")
    source = store.path(attachment.sha256)
    if not source.exists():
        raise FileNotFoundError("the attachment's content is missing from the attachment store")
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-open-"))  # 0700
    target = folder / attachment.name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out)
    subprocess.Popen([command, str(target)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return target


# ------------------------------------------------------------------ dialogs


@dataclass(frozen=True, slots=True)
class AttachmentChoice:
    action: str  # "save" | "open"
    attachment: Attachment


class AttachmentPicker(ModalScreen[AttachmentChoice | None]):
    """The focused entry's attachments: Enter (or s) saves, o opens, Escape backs out."""

    CSS_PATH = CSS_FILE
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="ticket.attachments.cancel"),
        Binding("s", "choose('save')", "Save", id="ticket.attachments.save"),
        Binding("o", "choose('open')", "Open", id="ticket.attachments.open"),
    ]

    def __init__(self, attachments: list[Attachment], *, can_open: bool):
        super().__init__(classes="ticket-dialog")
        self.attachments = attachments
        self.can_open = can_open

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            count = len(self.attachments)
            yield Static(Text(f"{count} attachment{'s' if count != 1 else ''}", style="bold", end=""),
                         classes="dialog-title")
            options = []
            for item in self.attachments:
                prompt = safe_line(item.name, 120, style="bold")
                details = [human_size(item.size)] if item.size is not None else []
                if item.content_type:
                    details.append(item.content_type)
                if item.sha256 is None:
                    details.append("content not kept")
                if details:
                    prompt.append(f"  {' · '.join(details)}", style="dim")
                options.append(Option(prompt))
            yield OptionList(*options, classes="dialog-options")
            hint = "enter/s save · o open with the desktop · esc cancel" if self.can_open else \
                "enter/s save · esc cancel (no xdg-open here to open files)"
            yield Static(Text(hint, style="dim", end=""), classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def _current(self) -> Attachment | None:
        index = self.query_one(OptionList).highlighted
        return self.attachments[index] if index is not None and 0 <= index < len(self.attachments) else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(AttachmentChoice("save", self.attachments[event.option_index]))

    def action_choose(self, action: str) -> None:
        current = self._current()
        if current is not None:
            self.dismiss(AttachmentChoice(action, current))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SavePathDialog(ModalScreen[Path | None]):
    """Where to save an attachment: a path, prefilled with the default; Enter saves, Escape backs out."""

    CSS_PATH = CSS_FILE
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ticket.save.cancel")]

    def __init__(self, attachment: Attachment, default: Path):
        super().__init__(classes="ticket-dialog")
        self.attachment = attachment
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            title = Text("Save ", style="bold", end="")
            title.append_text(safe_line(self.attachment.name, 120, style="bold"))
            if self.attachment.size is not None:
                title.append(f"  ({human_size(self.attachment.size)})", style="dim")
            yield Static(title, classes="dialog-title")
            yield Input(value=str(self.default), id="save-path", classes="dialog-input", select_on_focus=False)
            yield Static(Text("enter save · esc cancel · a directory keeps the file's name; "
                              "an existing file is never replaced without asking", style="dim", end=""),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.focus()
        # Select the name (not the directory), so typing a new name replaces just that.
        value = field.value
        start = len(value) - len(self.default.name)
        field.selection = Selection(start, len(value)) if 0 <= start < len(value) else Selection.cursor(len(value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if value:
            self.dismiss(Path(value).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)
