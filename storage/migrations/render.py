"""How autogenerate writes parley's column types into a revision file.

Left alone, alembic would write ``parley.storage.types.UTCDateTime()`` without importing it and
``sqlmodel.sql.sqltypes.AutoString(length=…)`` for every string column. A revision should read
like plain DDL, so the first becomes an imported ``UTCDateTime()`` and the second ``sa.String``.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic.autogenerate.api import AutogenContext
from sqlmodel.sql.sqltypes import AutoString

from ..types import UTCDateTime


def render_item(kind: str, obj: Any, context: AutogenContext) -> str | Literal[False]:
    """Alembic's ``render_item`` hook: the source text for a type, or False for the default."""
    if kind != "type":
        return False
    if isinstance(obj, UTCDateTime):
        context.imports.add("from parley.storage.types import UTCDateTime")
        return "UTCDateTime()"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False
