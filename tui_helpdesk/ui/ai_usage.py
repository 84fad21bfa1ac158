"""The status bar's AI figure: my calls and tokens today, read in a worker (never on the first frame)."""

from __future__ import annotations

from textual import work


def usage_text(calls: int, tokens: int) -> str:
    return f"AI today: {calls} call{'s' if calls != 1 else ''} · {tokens:,} tokens"


def show_ai_usage(app) -> None:
    if app.hd is None or app.me is None or not app.hd.settings.ai.active:
        return
    _read(app)


@work(group="ai-usage", exclusive=True, exit_on_error=False)
async def _read(app) -> None:
    try:
        calls, tokens = await app.hd.ai.today(app.me.id)
    except Exception:  # noqa: BLE001 - a missing figure is no reason to disturb the agent
        return
    inbox = getattr(app, "inbox", None)
    if inbox is not None and inbox.is_mounted:
        inbox.status.ai = usage_text(calls, tokens)
