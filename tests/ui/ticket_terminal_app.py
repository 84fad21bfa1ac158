"""Run one ticket screen in a real terminal (the tmux tests start this file).

    python ticket_terminal_app.py DB_PATH TICKET_ID LOGIN

The harness app's ``notify`` is Textual's own (not the help desk app's
forgiving override), so a ``Text`` or markup reaching it would show here.
"""

from __future__ import annotations

import asyncio
import sys


from textual.app import App

from tui_helpdesk.bootstrap import bootstrap
from tui_helpdesk.settings import load
from tui_helpdesk.ui.ticket.screen import TicketScreen


class TerminalHarness(App):
    def __init__(self, hd, me, ticket_id: int):
        super().__init__()
        self.hd, self.me, self.ticket_id = hd, me, ticket_id

    def on_mount(self) -> None:
        self.push_screen(TicketScreen(self.hd, self.me, self.ticket_id))


async def main(db: str, ticket_id: int, login: str) -> None:
    hd = await bootstrap(load(database_url=f"sqlite+aiosqlite:///{db}"))
    try:
        me = await hd.agents.identify(login)
        await TerminalHarness(hd, me, ticket_id).run_async()
    finally:
        await hd.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
