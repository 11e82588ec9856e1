"""Schema migrations (alembic): the environment, the revisions and the code that applies them."""
