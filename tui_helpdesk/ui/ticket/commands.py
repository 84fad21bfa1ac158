"""The ticket screen's actions in the command palette, each shown with the keys that do it now.

The screen says which actions make sense on its ticket
(:meth:`~tui_helpdesk.ui.ticket.screen.TicketScreen.palette_commands`); this
provider only lists and matches them.
"""

from __future__ import annotations

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider


class TicketCommands(Provider):
    """The ticket screen's actions in the command palette, each with its current key."""

    def _commands(self) -> list[tuple[str, str, object]]:
        # Asked of the screen, not checked against its class: the screen module imports this one.
        commands = getattr(self.screen, "palette_commands", None)
        return commands() if callable(commands) else []

    async def discover(self) -> Hits:
        for label, keys, run in self._commands():
            yield DiscoveryHit(Text(label, end="") + Text(f"  {keys}", style="dim", end=""), run, text=label,
                               help="Ticket")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, keys, run in self._commands():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label) + Text(f"  {keys}", style="dim", end=""), run, text=label,
                          help="Ticket")
