"""What every area's queries rely on: the transaction's connection, store and clock."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING

# A statement built once and run with parameters from then on (``@prepared`` on a builder
# taking only hashable arguments). Building a SQLAlchemy statement and computing its cache
# key cost more than running it on SQLite: the hot paths (a ticket read or created, a
# token checked) use these; the rest build theirs as they go.
prepared = functools.cache

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from ..repository import Store
    from ..steady import SteadyConnection


class TxPart:
    """Base of the query mixins; :class:`~..repository.Tx` sets these and composes them all.

    Methods call one another across areas through ``self`` (adding an agent
    records a change, reading a ticket reads its requester), as they did when
    they were one class.
    """

    conn: AsyncConnection | SteadyConnection
    store: Store
    dialect: str

    if TYPE_CHECKING:
        def now(self) -> datetime: ...
