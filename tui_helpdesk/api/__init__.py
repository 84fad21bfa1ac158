"""The public HTTP API (``helpdesk api serve``): FastAPI on uvicorn, beside the app and the CLI.

Nothing else imports this package: the app and the other commands start
without FastAPI. It reaches the help desk through :mod:`tui_helpdesk.bootstrap`
like the app does; the schemas are SQLModel (pydantic) models, validated and
documented by FastAPI from one set of classes.
"""
