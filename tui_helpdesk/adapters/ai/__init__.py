"""The AI edge: an OpenAI-compatible chat-completion client and a simulator of one.

Nothing here is imported at start-up: bootstrap builds the client on the first
AI action, and the ``openai`` package is imported only then.
"""
