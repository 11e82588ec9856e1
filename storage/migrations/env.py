"""Alembic's environment, run by alembic while it applies or generates revisions.

parley configures alembic in code (see ``runner.alembic_config``) and always hands it an open
connection: the one ``init_db`` holds its migration lock on. There is no alembic.ini and no
offline (``--sql``) mode.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from parley.storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from parley.storage.migrations.render import render_item


def skip_empty(_context: MigrationContext, _revision: Any, directives: list[Any]) -> None:
    """With ``skip_empty`` set (``make migration``), write no file when nothing changed."""
    script = directives[0] if directives else None
    if not context.config.attributes.get("skip_empty") or not isinstance(script, MigrationScript):
        return
    if all(ops.is_empty() for ops in script.upgrade_ops_list):
        directives[:] = []


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise RuntimeError(
            "parley's migrations run on a connection: use `parley db upgrade` "
            'or `make migration m="…"`, not the alembic command'
        )
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite can ALTER little: batch mode copies the table instead
        render_item=render_item,
        compare_type=True,
        process_revision_directives=skip_empty,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
