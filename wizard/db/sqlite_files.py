"""The SQLite file and its companions: private to the wizard's user, never through a link."""

from __future__ import annotations

import contextlib
import os
import stat


class UnsafeDatabaseFile(ValueError):
    """A SQLite file the wizard will not use: a link, another user's, or writable by others."""


def _unsafe(info: os.stat_result) -> str | None:
    """Why a file of this `os.stat` result is not one to trust, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "is a link"
    if not stat.S_ISREG(info.st_mode):
        return "is not a plain file"
    if info.st_uid != os.geteuid():
        return "belongs to another user"
    if info.st_mode & 0o022:
        return "may be changed by other users"
    return None


def _advice(name: str, problem: str, info: os.stat_result, owned: bool) -> str:
    """Why the file is refused, and what fits: for the wizard's own file, a private folder;
    for a host application's, permissions that keep the host working."""
    if owned:
        return (
            f"The SQLite file {name} {problem}: the wizard does not use it. Put the database in "
            "a folder only the wizard's user can write (the instance folder is one), or remove "
            "that file."
        )
    if problem == "may be changed by other users":
        return (
            f"The SQLite file {name} may be changed by other users (mode "
            f"{stat.filemode(info.st_mode)}), and the identity and the license id would live in "
            "it. Let only its owner write it (chmod go-w on it and its -wal and -shm; the "
            "application keeps working when it runs as the owner), or give the wizard a "
            "database of its own."
        )
    return (
        f"The SQLite file {name} {problem}: the wizard does not use it. Run the wizard as the "
        "user the application's database belongs to, or give the wizard a database of its own."
    )


def private_sqlite_files(database: str, create: bool = True, owned: bool = True) -> None:
    """Create the SQLite file private to its owner (0600) before SQLite opens it: SQLite gives
    its -wal and -shm files the database file's mode, and the file holds the license id. An
    older install's files that others may read are made private. A file the wizard does not own
    (`owned` false: a host application's) keeps its mode. Raise UnsafeDatabaseFile for a file
    that is a link (in a folder others can write to, it could point anywhere: SQLite would
    follow it), that another user owns, or that others may write."""
    path = os.path.abspath(database)
    if create:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        # The file is held by an O_PATH descriptor: closing a real one would drop the POSIX
        # locks of this process's open SQLite connections (Linux keeps O_PATH out of locking).
        try:
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            info = os.fstat(fd)
            problem = _unsafe(info)
            if problem:
                raise UnsafeDatabaseFile(_advice(name, problem, info, owned))
            if owned and info.st_mode & 0o077:
                os.chmod(f"/proc/self/fd/{fd}", 0o600)
        finally:
            os.close(fd)
