"""A sample host application: its own tables and its own Alembic history (two revisions, the
second of which creates the identity table in the seed's shape, as a real application does),
and a Flask and an ASGI web app that mount the wizard under /admin/license."""
