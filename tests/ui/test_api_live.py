"""A ticket created through the public API shows in a running app: Unassigned counts it within a second or two.

The API server runs as it would in another process (its own thread, loop and
database engine on the same file); only the change feed links the two.
"""

from __future__ import annotations

import time

import httpx
from ui_support import settle

from tests.api_support import ApiServer
from tests.desks import make_settings
from tui_helpdesk.api.app import ApiOptions


async def test_a_ticket_created_through_the_api_raises_unassigned(tmp_path, desk, make_app):
    hd, ana, _ = desk
    _, token = await hd.api_access.create_token(ana, "web form")
    server = ApiServer(make_settings(tmp_path / "desk.db"), ApiOptions(send_webhooks=False)).start()
    app = make_app(hd, ana, poll_seconds=0.2)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await settle(pilot)
            before = app.inbox.rail.item("unassigned").count
            async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
                r = await c.post("/api/v1/tickets", json={"requester": {"email": "web@example.com"},
                                                          "subject": "From the web form", "body": "Hello"})
            assert r.status_code == 201, r.text
            start = time.monotonic()
            while app.inbox.rail.item("unassigned").count != before + 1:
                assert time.monotonic() - start < 3, "the app did not count the new ticket"
                await pilot.pause(0.05)
    finally:
        await server.astop()
