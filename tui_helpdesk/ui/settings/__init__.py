"""The Settings screen: a desk's shared settings, edited by admins and read by agents."""

from .screen import SettingsScreen

__all__ = ["SettingsScreen"]
