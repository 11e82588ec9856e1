"""Write a new revision for the models' changes: ``python -m parley.storage.migrations.autogen MSG``.

Autogenerate compares the models with a scratch SQLite database brought to head, so the new
revision holds exactly what the models added since the last one. Run it from a checkout (the
file lands in storage/migrations/versions/); `make migration m="…"` also formats it. Read the
file before committing it: autogenerate cannot tell a rename from a drop and an add.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from parley.storage.migrations.runner import alembic_config, upgrade_to_head


def new_revision(message: str, scratch: Path) -> list[Path]:
    """Autogenerate a revision named ``message`` against a database file in ``scratch``."""
    from parley.storage.db import make_engine

    engine = make_engine(f"sqlite:///{scratch / 'scratch.db'}")
    try:
        upgrade_to_head(engine)
        with engine.connect() as connection:
            config = alembic_config(connection)
            config.attributes["skip_empty"] = True
            written = command.revision(config, message=message, autogenerate=True)
            connection.commit()
    finally:
        engine.dispose()
    scripts = written if isinstance(written, list) else [written]
    return [Path(s.path) for s in scripts if s is not None]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    message = " ".join(args).strip()
    if not message:
        print('error: give the revision a message: make migration m="add delivery attempts"')
        return 2
    with tempfile.TemporaryDirectory(prefix="parley-migration-") as scratch:
        written = new_revision(message, Path(scratch))
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("the models match the newest revision: no revision written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
