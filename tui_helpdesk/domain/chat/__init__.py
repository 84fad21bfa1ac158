"""The chatbot platform's vocabulary: its data types and its errors, no I/O.

:mod:`.model` holds the typed, already cleaned values the platform reports
(conversations, messages, users); :mod:`.errors` the ``ChatbotError`` family
every failed call to it surfaces as. The HTTP client in
:mod:`tui_helpdesk.adapters.chatbot` produces both; services read them
without importing the adapter.
"""
