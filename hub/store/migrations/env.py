"""Alembic environment: the engine comes from the hub (``hub db upgrade``), never from an ini file."""

from alembic import context

from hub.store.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
