"""Allow ``python -m tui_helpdesk``."""

from tui_helpdesk.cli.main import run

run()
