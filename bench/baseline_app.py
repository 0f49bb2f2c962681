"""The baselines: bare Flask views doing the least the wizard's endpoints must do."""

import os

import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy.dialects import postgresql, sqlite

app = Flask(__name__)
_url = os.environ["BENCH_DATABASE_URL"]
# The least any multi-process writer on SQLite needs: wait for the lock instead of failing.
engine = sa.create_engine(_url, connect_args={"timeout": 30} if _url.startswith("sqlite") else {})
metadata = sa.MetaData()
# The wizard's own table, so both run the very same statement.
identity = sa.Table("telemetry_identity", metadata, autoload_with=engine)
_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


@app.get("/const")
def const():
    """A constant JSON body: the framework's floor."""
    return {"has_customer_info": True, "updated_at": "2026-11-28T00:00:00+00:00"}


@app.put("/upsert")
def upsert():
    """The single upsert the wizard's save runs, with the same driver, and nothing else."""
    body = request.get_json()
    values = {
        "customer_id": body["customer_id"],
        "instance_id": body["instance_id"],
        "updated_at": sa.func.now(),
    }
    statement = _insert(identity).values(id=1, **values)
    statement = statement.on_conflict_do_update(index_elements=["id"], set_=values)
    with engine.begin() as connection:
        connection.execute(statement)
    return {"saved": True}
