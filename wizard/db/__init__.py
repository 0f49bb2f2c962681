"""The database: the handle and column types, the engine's time limits, fast reads, the
SQLite file's safety, and what a database error means in words."""

from .engine import configure_engine, database_url, engine_options, owns_sqlite_file
from .problems import DatabaseProblem, database_problem
from .reads import driver_execute, driver_reads, pipelined, retried_once_if_disconnected
from .sqlite_files import UnsafeDatabaseFile, private_sqlite_files
from .types import (
    SQLITE_BEGIN_IMMEDIATE,
    Base,
    UTCDateTime,
    db,
    dialect_insert,
    utc_from_db,
    utcnow,
)

__all__ = [
    "SQLITE_BEGIN_IMMEDIATE",
    "Base",
    "DatabaseProblem",
    "UTCDateTime",
    "UnsafeDatabaseFile",
    "configure_engine",
    "database_problem",
    "database_url",
    "db",
    "dialect_insert",
    "driver_execute",
    "driver_reads",
    "engine_options",
    "owns_sqlite_file",
    "pipelined",
    "private_sqlite_files",
    "retried_once_if_disconnected",
    "utc_from_db",
    "utcnow",
]
