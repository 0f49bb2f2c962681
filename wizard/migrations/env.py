"""Alembic environment: runs the wizard's migrations on the app's own engine."""

from alembic import context
from flask import current_app

migrate = current_app.extensions["migrate"]
target_metadata = migrate.db.metadata


def run_migrations_offline():
    """Write the SQL to standard output instead of running it."""
    context.configure(
        url=str(migrate.db.engine.url),
        target_metadata=target_metadata,
        literal_binds=True,
        **migrate.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run every pending migration in one transaction: all of them land, or none does."""
    with migrate.db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transactional_ddl=True,
            **migrate.configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
