"""Fast reads: the SELECTs a console polls and every admin page makes, run on a pooled driver
connection without SQLAlchemy's result machinery, with the same values their column types give."""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from .deadlines import deadlines_of
from .types import UTCDateTime, db, utc_from_db

T = TypeVar("T")

Read = tuple[sa.Select[Any], dict[str, Any] | None]


def retried_once_if_disconnected(read: Callable[..., T]) -> Callable[..., T]:
    """A read that met a pooled connection the database had dropped (a restart, a failover, a
    cut network) runs once more: SQLAlchemy has discarded the dead connections by then. Only
    a quick failure is retried; a read that waited out its deadline is not waited out twice."""

    @functools.wraps(read)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        started = time.monotonic()
        try:
            return read(*args, **kwargs)
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated or time.monotonic() - started > 1.0:
                raise
        return read(*args, **kwargs)

    return wrapped


def _json_from_db(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@functools.cache
def _row_reader(statement: Any) -> Callable[[Sequence[Any]], Any]:
    """Turn a driver's row of this SELECT (or RETURNING) into a named tuple with the values its
    column types give: aware UTC times, JSON as Python."""
    columns = list(statement.exported_columns)
    row_type = collections.namedtuple("Row", [column.name for column in columns])  # type: ignore[misc]
    converters = [
        utc_from_db
        if isinstance(column.type, UTCDateTime)
        else _json_from_db
        if isinstance(column.type, sa.JSON)
        else None
        for column in columns
    ]

    def read(raw: Sequence[Any]) -> Any:
        return row_type(*(c(v) if c else v for c, v in zip(converters, raw, strict=True)))

    return read


@functools.cache
def _driver_sql(
    statement: Any, dialect: sa.Dialect, column_keys: tuple[str, ...] | None = None
) -> tuple[str, Any, Any]:
    """A Core statement compiled once per database (and, for an INSERT of given columns, per
    set of columns): its SQL, the order of its parameters (for drivers that take them by
    position) and its own parameter values."""
    compiled = statement.compile(
        dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
    )
    return compiled.string, compiled.positiontup, compiled.construct_params(_check=False)


def _driver_params(order: Any, values: dict[str, Any]) -> Any:
    return tuple(values[name] for name in order) if order else values


def _driver_error(connection: sa.Connection, error: Any, sql: str | None, cursor: Any) -> Any:
    """A driver's error as SQLAlchemy raises it, the connection invalidated when it is lost."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(error)
    return sa.exc.DBAPIError.instance(
        sql, None, error, dialect.loaded_dbapi.Error, connection_invalidated=lost
    )


def driver_execute(
    connection: sa.Connection,
    statement: Any,
    params: dict[str, Any] | None = None,
    *,
    later: bool = False,
) -> Any:
    """Run a Core statement on the driver connection under `connection`, inside its open
    transaction: the same statement SQLAlchemy would run, compiled once, without the result
    machinery. For the saves every write makes: the parameters must be plain text, numbers or
    None (no type needs to process them). Returns the rows a SELECT or RETURNING gives; with
    `later`, a function that returns them, so that a driver in pipeline mode (psycopg inside
    `pipelined`) sends the statement with the next ones instead of waiting for it.

    Driver errors come out as SQLAlchemy's DBAPIError, a connection found dead is invalidated,
    and the statement has its deadline, as with connection.execute.
    """
    keys = tuple(sorted(params)) if params and isinstance(statement, sa.Insert) else None
    sql, order, values = _driver_sql(statement, connection.dialect, keys)
    if params:
        values = {**values, **params}
    dbapi_connection = connection.connection.dbapi_connection
    wants_rows = isinstance(statement, sa.Select) or bool(getattr(statement, "_returning", ()))
    cursor = dbapi_connection.cursor()  # type: ignore[union-attr]

    def rows() -> list[Any]:
        try:
            with deadlines_of(connection.engine).watching(dbapi_connection):
                found = cursor.fetchall() if wants_rows else []
        except connection.dialect.loaded_dbapi.Error as error:
            raise _driver_error(connection, error, sql, cursor) from error
        finally:
            cursor.close()
        return list(map(_row_reader(statement), found)) if found else []

    try:
        with deadlines_of(connection.engine).watching(dbapi_connection):
            cursor.execute(sql, _driver_params(order, values))
    except connection.dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise _driver_error(connection, error, sql, cursor) from error
    if later and _in_pipeline(dbapi_connection):
        return rows
    found = rows()
    return (lambda: found) if later else found


def _in_pipeline(dbapi_connection: Any) -> bool:
    pgconn = getattr(dbapi_connection, "pgconn", None)
    return bool(getattr(pgconn, "pipeline_status", 0))


@contextlib.contextmanager
def pipelined(connection: sa.Connection) -> Iterator[None]:
    """Send the statements of this block together where the driver can (psycopg's pipeline
    mode): a save then waits for the database twice, not once per statement. Inside it, only
    driver_execute may run statements, and a commit sends what is queued."""
    dbapi_connection = connection.connection.dbapi_connection
    pipeline = getattr(dbapi_connection, "pipeline", None)
    if connection.dialect.name != "postgresql" or pipeline is None:
        yield
        return
    try:
        with pipeline():
            yield
    except connection.dialect.loaded_dbapi.Error as error:
        raise _driver_error(connection, error, None, None) from error


@retried_once_if_disconnected
def driver_reads(*reads: Read) -> list[list[Any]]:
    """Run SELECTs, each a (Core statement, parameters) pair, on one pooled driver connection
    and in one transaction, so that they see one snapshot; return the rows of each, with the
    values their column types say (named tuples of aware times and parsed JSON).

    Driver errors come out as SQLAlchemy's DBAPIError (so the 503 pages and the CLI's exit
    codes treat them as always), a connection found dead is dropped from the pool, and each
    statement has its deadline.
    """
    engine = db.engine
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi_error) from error
    # A lone SELECT needs no transaction: on PostgreSQL, autocommit spares the BEGIN and the
    # ROLLBACK that returning the connection to the pool would otherwise cost.
    alone = len(reads) == 1 and engine.dialect.name != "sqlite"
    try:
        if alone:
            connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        cursor = connection.cursor()
        try:
            with deadlines_of(engine).watching(connection.dbapi_connection):
                return _run(cursor, engine.dialect, reads)
        finally:
            cursor.close()
    except dbapi_error as error:
        lost = engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
        if lost:
            connection.invalidate(error)
        raise sa.exc.DBAPIError.instance(
            None, None, error, dbapi_error, connection_invalidated=lost
        ) from error
    finally:
        if alone and connection.dbapi_connection is not None:
            connection.dbapi_connection.autocommit = False
        connection.close()  # back to the pool, which rolls back what is open


def _run(cursor: Any, dialect: sa.Dialect, reads: Sequence[Read]) -> list[list[Any]]:
    """Execute the reads on a driver cursor, one snapshot (SQLite begins none by itself)."""
    snapshot = dialect.name == "sqlite" and len(reads) > 1
    if snapshot:
        cursor.execute("BEGIN")
    results = []
    for statement, params in reads:
        sql, order, values = _driver_sql(statement, dialect)
        if params:
            values = {**values, **params}
        cursor.execute(sql, _driver_params(order, values))
        results.append(list(map(_row_reader(statement), cursor.fetchall())))
    if snapshot:
        cursor.execute("COMMIT")
    return results
