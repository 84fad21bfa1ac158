"""What every area's queries rely on: the transaction's connection, store and clock."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

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
