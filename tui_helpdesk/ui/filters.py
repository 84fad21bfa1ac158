"""Filtering: the query bar and the filter-builder dialog (saving views: :mod:`.view_dialogs`).

The bar and the builder both produce a query string in the typed language
(``domain.querylang``); the inbox parses it into a ``ViewSpec`` and narrows the
current view with it. A bad query keeps the text and points at the bad token.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Select, Static

from ..domain import querylang
from ..domain.errors import QueryError, UsageError
from ..domain.query import MAX_CONDITIONS, Condition, Field, Op, ViewSpec
from .text import line, plain

# ----------------------------------------------------------------- the bar


class QuerySuggester(Suggester):
    """Completes the last token of a query from ``querylang.completions``."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(" "):
            return None
        options = querylang.completions(value)
        if not options:
            return None
        head = value.rsplit(" ", 1)[0] + " " if " " in value else ""
        return head + options[0]


def error_text(exc: QueryError) -> Text:
    """The query with the bad token highlighted, then the reason: all literal text."""
    out = Text(end="")
    query = exc.query
    start, end = max(0, exc.start), max(exc.start + 1, exc.end)
    out.append(query[:start])
    out.append(query[start:end] or " ", style="bold reverse red")
    out.append(query[end:])
    out.append("\n")
    out.append(" " * start + "^" * max(1, min(end, len(query) + 1) - start), style="bold red")
    out.append(f" {exc.reason}", style="red")
    return out


class FilterBar(Vertical):
    """``/``: type a query; Enter applies it, Escape leaves it as it was."""

    BINDINGS = [
        Binding("escape", "cancel", "Close the filter bar", show=False, id="filter.cancel"),
        Binding("tab", "complete", "Complete", show=False, id="filter.complete"),
    ]

    @dataclass
    class Applied(Message):
        bar: "FilterBar"
        query: str
        spec: ViewSpec | None

        @property
        def control(self) -> "FilterBar":
            return self.bar

    @dataclass
    class Cancelled(Message):
        bar: "FilterBar"

        @property
        def control(self) -> "FilterBar":
            return self.bar

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Label("Filter", id="filter-label")
            yield Input(placeholder='status:on_you,new assignee:me channel:email created:<7d "refund"',
                        suggester=QuerySuggester(), id="filter-input", select_on_focus=False)
        yield Static("", id="filter-hint")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def open(self, query: str) -> None:
        self.display = True
        self.input.value = query
        self.input.cursor_position = len(query)
        # Focus now, not after a refresh: keys typed right after "/" belong to the bar.
        self.screen.set_focus(self.input)
        self._check(query)

    # Enter was pressed: the hint stays until the results are on screen (see fold).
    holding_hint = False

    def on_descendant_focus(self) -> None:
        self.add_class("-editing")

    def on_descendant_blur(self) -> None:
        if not self.holding_hint:
            self.remove_class("-editing")

    def fold(self) -> None:
        """Hide the editing hint after an applied filter's results are shown.

        Folding it changes the layout, which repaints the whole screen; done
        after the results' frame, it no longer delays them.
        """
        self.holding_hint = False
        if not self.input.has_focus:
            self.remove_class("-editing")

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled(self))

    def action_complete(self) -> None:
        inp = self.input
        if inp._suggestion and inp._suggestion != inp.value:
            inp.value = inp._suggestion
            inp.cursor_position = len(inp.value)
        else:
            options = querylang.completions(inp.value)
            if len(options) == 1:
                head = inp.value.rsplit(" ", 1)[0] + " " if " " in inp.value else ""
                inp.value = head + options[0]
                inp.cursor_position = len(inp.value)

    def _check(self, query: str) -> ViewSpec | None:
        try:
            spec = querylang.parse(query)
        except QueryError as exc:
            self._hint(error_text(exc), error=True)
            return None
        except UsageError as exc:
            self._hint(plain(exc), error=True)
            return None
        last = query.rsplit(" ", 1)[-1] if query and not query.endswith(" ") else ""
        options = querylang.completions(last) if last else []
        if options:
            self._hint(Text("  ".join(options[:8]), style="dim", end=""))
        else:
            self._hint(Text("Enter applies · Tab completes · Esc closes · fields: " + " ".join(querylang.FIELD_NAMES),
                            style="dim", end=""))
        return spec

    def refuse(self, query: str, exc: QueryError) -> None:
        """Open again on *query* with *exc* pointed at, as for a typing mistake (e.g. an unknown agent)."""
        self.holding_hint = False
        self.open(query)
        self._hint(error_text(exc), error=True)

    def _hint(self, text: Text, *, error: bool = False) -> None:
        # Only a change is drawn: updating the hint lays the whole screen out again.
        hint = self.query_one("#filter-hint", Static)
        if (text, error) != getattr(self, "_hinted", None):
            self._hinted = (text, error)
            hint.update(text)
            hint.set_class(error, "-error")

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check(event.value)

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        spec = self._check(event.value)
        if spec is not None or not event.value.strip():
            self.holding_hint = True
            self.post_message(self.Applied(self, event.value.strip(), spec if event.value.strip() else None))


# ------------------------------------------------------------- the builder

FIELD_CHOICES: list[tuple[str, Field]] = [
    ("Status", Field.STATUS), ("Channel", Field.CHANNEL), ("Assignee", Field.ASSIGNEE),
    ("Mentions me", Field.MENTIONS_ME), ("Created", Field.CREATED), ("Last message", Field.LAST_MESSAGE),
    ("Last message by", Field.LAST_MESSAGE_BY), ("Type", Field.TYPE), ("Tag", Field.TAG),
    ("Requester", Field.REQUESTER), ("Text", Field.TEXT),
]
SET_OPS = [("is any of", Op.ANY_OF), ("is none of", Op.NONE_OF)]
TIME_OPS = [("in the last", Op.WITHIN), ("more than … ago", Op.OLDER), ("before", Op.BEFORE),
            ("after", Op.AFTER), ("between", Op.BETWEEN)]
FIELD_OPS_UI: dict[Field, list[tuple[str, Op]]] = {
    Field.STATUS: SET_OPS, Field.CHANNEL: SET_OPS, Field.ASSIGNEE: SET_OPS,
    Field.MENTIONS_ME: [("is set", Op.FLAG)],
    Field.CREATED: TIME_OPS, Field.LAST_MESSAGE: TIME_OPS,
    Field.LAST_MESSAGE_BY: [("is", Op.IS)],
    Field.TYPE: [("is", Op.IS), ("is none of", Op.NONE_OF)],
    Field.TAG: SET_OPS + [("contains", Op.CONTAINS)],
    Field.REQUESTER: SET_OPS + [("contains", Op.CONTAINS)],
    Field.TEXT: [("matches", Op.MATCH)],
}
PLACEHOLDERS: dict[Field, str] = {
    Field.STATUS: "new, on_you, on_customer, on_hold, closed, cancelled, active, solved",
    Field.CHANNEL: "email, web, whatsapp, messenger, api",
    Field.ASSIGNEE: "me, none, or logins",
    Field.LAST_MESSAGE_BY: "customer or agent",
    Field.TYPE: "ticket, live_chat, email, api",
    Field.TAG: "tags, comma-separated",
    Field.REQUESTER: "names or email addresses",
    Field.TEXT: "words to find in subjects, messages and notes",
}
TIME_PLACEHOLDERS = {Op.WITHIN: "7d, 2w, 3m (at most 365 days)", Op.OLDER: "30d", Op.BEFORE: "YYYY-MM-DD",
                     Op.AFTER: "YYYY-MM-DD", Op.BETWEEN: "YYYY-MM-DD..YYYY-MM-DD"}


def _needs_value(op: Op) -> bool:
    return op is not Op.FLAG


def _quote(value: str) -> str:
    return querylang._quote(value)


def condition_query(field: Field, op: Op, value: str) -> str:
    """One condition of the builder as a query token (validated later by ``parse``)."""
    value = value.strip()
    name = field.value
    if op is Op.FLAG:
        return "mentions:me"
    if op is Op.MATCH:
        return _quote(value)
    items = ",".join(_quote(v.strip()) for v in value.split(",") if v.strip())
    if op in (Op.ANY_OF, Op.IS):
        return f"{name}:{items}"
    if op is Op.NONE_OF:
        return f"-{name}:{items}"
    if op is Op.CONTAINS:
        return f"{name}:~{_quote(value)}"
    if op in (Op.WITHIN, Op.OLDER):
        amount = value if value[-1:].isalpha() else value + "d"
        return f"{name}:{'<' if op is Op.WITHIN else '>'}{amount}"
    if op is Op.BEFORE:
        return f"{name}:<{value}"
    if op is Op.AFTER:
        return f"{name}:>{value}"
    if op is Op.BETWEEN:
        return f"{name}:{value.replace(' ', '')}"
    raise UsageError(f"unsupported operator {op.value}")  # pragma: no cover


def condition_row(c: Condition) -> tuple[Field, Op, str]:
    """A parsed condition back to builder form (field, operator, value text)."""
    if c.op in (Op.WITHIN, Op.OLDER):
        return c.field, c.op, f"{c.values[0]}d"
    if c.op is Op.BETWEEN:
        return c.field, c.op, f"{c.values[0].isoformat()}..{c.values[1].isoformat()}"
    if c.op in (Op.BEFORE, Op.AFTER):
        return c.field, c.op, c.values[0].isoformat()
    op = Op.IS if c.field is Field.TYPE and c.op is Op.ANY_OF else c.op
    return c.field, op, ", ".join(str(v) for v in c.values)


class ConditionRow(Horizontal):
    """Field, operator, value and a remove button."""

    def __init__(self, field: Field = Field.STATUS, op: Op | None = None, value: str = "") -> None:
        super().__init__(classes="condition")
        self.field = field
        self.op = op or FIELD_OPS_UI[field][0][1]
        self.value = value

    def compose(self) -> ComposeResult:
        yield Select([(label, f) for label, f in FIELD_CHOICES], value=self.field, allow_blank=False,
                     classes="cond-field", compact=True)
        yield Select(FIELD_OPS_UI[self.field], value=self.op, allow_blank=False, classes="cond-op", compact=True)
        yield Input(self.value, placeholder=self._placeholder(), classes="cond-value", compact=True,
                    disabled=not _needs_value(self.op))
        yield Button("✕", classes="cond-remove", compact=True, tooltip="Remove this condition")

    def _placeholder(self) -> str:
        if self.op in TIME_PLACEHOLDERS:
            return TIME_PLACEHOLDERS[self.op]
        return PLACEHOLDERS.get(self.field, "")

    @on(Select.Changed, ".cond-field")
    def _field_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value == self.field or event.value is Select.BLANK:
            return
        self.field = event.value
        ops = FIELD_OPS_UI[self.field]
        self.op = ops[0][1]
        op_select = self.query_one(".cond-op", Select)
        op_select.set_options(ops)
        op_select.value = self.op
        self._update_value()
        self.post_message(FilterBuilder.Edited())

    @on(Select.Changed, ".cond-op")
    def _op_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.BLANK:
            return
        self.op = event.value
        self._update_value()
        self.post_message(FilterBuilder.Edited())

    def _update_value(self) -> None:
        value = self.query_one(".cond-value", Input)
        value.placeholder = self._placeholder()
        value.disabled = not _needs_value(self.op)

    @on(Input.Changed, ".cond-value")
    def _value_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.value = event.value
        self.post_message(FilterBuilder.Edited())

    @on(Button.Pressed, ".cond-remove")
    def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        self.remove()
        self.post_message(FilterBuilder.Edited())

    def query_token(self) -> str | None:
        if _needs_value(self.op) and not self.value.strip():
            return None
        return condition_query(self.field, self.op, self.value)


class FilterBuilder(ModalScreen[str | None]):
    """The SPEC §4 filters as a form; returns a query string (or None if cancelled)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="builder.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="builder.apply"),
        Binding("ctrl+n", "add", "Add a condition", id="builder.add"),
    ]

    class Edited(Message):
        """Any condition changed: recompute the preview."""

    def __init__(self, query: str = "") -> None:
        super().__init__()
        self.initial = query
        self.sort_suffix = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="builder", classes="dialog"):
            yield Label("Filter builder", classes="dialog-title")
            yield Static("All conditions must match. Values are comma-separated.", classes="dialog-help")
            yield VerticalScroll(id="conditions")
            with Horizontal(classes="dialog-row"):
                yield Button("+ Condition", id="add", compact=True)
            yield Static("", id="builder-preview")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        rows: list[ConditionRow] = []
        try:
            spec = querylang.parse(self.initial) if self.initial.strip() else ViewSpec()
            rows = [ConditionRow(*condition_row(c)) for c in spec.conditions]
            sort_text = querylang.format_spec(ViewSpec(sort=spec.sort))
            self.sort_suffix = sort_text
        except UsageError:
            pass
        if not rows:
            rows = [ConditionRow()]
        self.query_one("#conditions").mount_all(rows)
        self.call_after_refresh(self._focus_first)
        self._preview()

    def _focus_first(self) -> None:
        rows = self.query(ConditionRow)
        if rows and (fields := rows.first().query(".cond-field")):
            fields.first().focus()

    def query_text(self) -> str:
        tokens = [t for row in self.query(ConditionRow) if (t := row.query_token())]
        if self.sort_suffix:
            tokens.append(self.sort_suffix)
        return " ".join(tokens)

    def _preview(self) -> bool:
        preview = self.query_one("#builder-preview", Static)
        text = self.query_text()
        try:
            querylang.parse(text)
        except QueryError as exc:
            preview.update(error_text(exc))
            preview.add_class("-error")
            return False
        except UsageError as exc:
            preview.update(plain(exc))
            preview.add_class("-error")
            return False
        preview.remove_class("-error")
        preview.update(Text("Query: ", style="dim", end="") + line(text or "(everything)"))
        return True

    def on_filter_builder_edited(self, event: Edited) -> None:
        self.call_after_refresh(self._preview)

    async def action_add(self) -> None:
        if len(self.query(ConditionRow)) >= MAX_CONDITIONS:
            self.notify(f"a filter has at most {MAX_CONDITIONS} conditions", severity="warning")
            return
        row = ConditionRow()
        # Awaited: the row's own widgets exist only once its mount is done,
        # and a button press can come before the next refresh would.
        await self.query_one("#conditions").mount(row)
        row.query_one(".cond-field").focus()
        self._preview()

    def action_apply(self) -> None:
        if self._preview():
            self.dismiss(self.query_text())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#add")
    async def _add(self) -> None:
        await self.action_add()

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
