"""Use cases: what agents, the CLI, the API and the workers can do.

Services call the domain for decisions and the store (a port) for data; they
never import textual, so the CLI and the API run without the terminal UI.
"""
