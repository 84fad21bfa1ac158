"""Widgets of the inbox: the view rail, the ticket table and the status bar."""

from .rail import ViewRail
from .statusbar import StatusBar
from .table import TicketTable

__all__ = ["StatusBar", "TicketTable", "ViewRail"]
