"""Schemathesis against the OpenAPI document: generated requests, good and bad, never get a 5xx,
and every answer matches the documented status codes, headers and schemas.

The run is bounded (a fixed number of examples per operation) so it stays well
under a minute; the server is the real one on loopback. One check is left out:
"positive data acceptance" takes every schema-valid request for one that must
succeed, but an opaque cursor is any string in the schema and a bad one is
rightly a 400, and the generated examples share Idempotency-Keys across
different bodies, which is rightly a 422.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tui_helpdesk.api.app import ApiOptions, create_app
from tui_helpdesk.bootstrap import bootstrap

from ..api_support import ApiServer
from .test_api_http import two_desks

schema = schemathesis.openapi.from_dict(create_app().openapi())


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('schema') / 'helpdesk.db'}"

    async def prepare() -> str:
        hd = await bootstrap(two_desks(url))
        try:
            ann = await hd.agents.identify("ann")
            for i in range(3):
                await hd.tickets.create(subject=f"Seed {i}", body="hello", requester_email=f"s{i}@example.com")
            return (await hd.api_access.create_token(ann, "schemathesis"))[1]
        finally:
            await hd.close()

    token = asyncio.run(prepare())
    server = ApiServer(two_desks(url), ApiOptions(rate_limit=1_000_000, send_webhooks=False)).start()
    yield server, token
    server.stop()


@pytest.fixture(autouse=True)
def isolated_home():  # module-scoped server above; nothing here reads $HOME
    yield


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_5xx_and_responses_match_the_schema(case, api):
    server, token = api
    case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])
