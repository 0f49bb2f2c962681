"""The host application's Alembic environment, as a host writes it, plus the one line the
wizard asks for: `include_name=host_include_name(target_metadata)`."""

from alembic import context
from sqlalchemy import create_engine

from tests.host_app.models import HostBase
from wizard.schema import host_include_name

target_metadata = HostBase.metadata

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=host_include_name(target_metadata),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
