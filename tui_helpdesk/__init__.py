"""tui-helpdesk: a help-desk ticket inbox that lives in the terminal."""

__version__ = "0.1.0"
