"""Admin sessions kept on the server, and the one-time links that open one.

The browser's cookie holds only a random key; the database holds its digest, the admin
token's fingerprint and two times. Lock, a new admin token, 30 idle minutes and 12 hours end a
session for every worker and replica at once.
"""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..db import db, driver_reads
from ..models import AdminSession, SetupDraft, UnlockLink, table_of

IDLE_LIFETIME = timedelta(minutes=30)
ABSOLUTE_LIFETIME = timedelta(hours=12)
LINK_LIFETIME = timedelta(seconds=60)
# A session's last-seen time is written at most this often, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)

SESSIONS = table_of(AdminSession)
LINKS = table_of(UnlockLink)
DRAFTS = table_of(SetupDraft)


class LinkRefused(Exception):
    """The unlock link was used already, has expired, or was never made."""


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _now():
    return datetime.now(UTC)


def _expired_sessions(now):
    return sa.or_(
        SESSIONS.c.last_seen_at < now - IDLE_LIFETIME,
        SESSIONS.c.created_at < now - ABSOLUTE_LIFETIME,
    )


def _add(table, expired, **values):
    """Drop the rows that have expired (so the table stays small), and add one."""
    with db.engine.begin() as connection:
        connection.execute(table.delete().where(expired))
        connection.execute(table.insert().values(**values))


def open_session(token_fingerprint):
    """Start an admin session; return the key for the browser's cookie."""
    key = secrets.token_urlsafe(32)
    now = _now()
    _add(
        SESSIONS,
        _expired_sessions(now),
        key_digest=_digest(key),
        token_fingerprint=token_fingerprint,
        created_at=now,
        last_seen_at=now,
    )
    return key


_READ_SESSION = sa.select(
    SESSIONS.c.token_fingerprint, SESSIONS.c.created_at, SESSIONS.c.last_seen_at
).where(SESSIONS.c.key_digest == sa.bindparam("digest"))


def session_is_open(key, token_fingerprint):
    """True while the session of this key is open, under the current admin token."""
    if not isinstance(key, str) or not key:
        return False
    digest = _digest(key)
    now = _now()
    [rows] = driver_reads((_READ_SESSION, {"digest": digest}))
    if not rows:
        return False
    row = rows[0]
    if (
        row.token_fingerprint != token_fingerprint
        or now - row.created_at >= ABSOLUTE_LIFETIME
        or now - row.last_seen_at >= IDLE_LIFETIME
    ):
        return False
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        with db.engine.begin() as connection:
            connection.execute(
                SESSIONS.update().where(SESSIONS.c.key_digest == digest).values(last_seen_at=now)
            )
    return True


def close_session(key):
    """End one session (Lock)."""
    if isinstance(key, str) and key:
        with db.engine.begin() as connection:
            connection.execute(SESSIONS.delete().where(SESSIONS.c.key_digest == _digest(key)))


def close_all_sessions():
    """End every session and unlock link (a new admin token), and drop every unfinished
    setup: a draft may hold a license file, and the new admin starts afresh."""
    with db.engine.begin() as connection:
        connection.execute(SESSIONS.delete())
        connection.execute(LINKS.delete())
        connection.execute(DRAFTS.delete())


def create_link(token_fingerprint, next_path):
    """Make a one-time unlock link; return its secret and when it expires."""
    secret = secrets.token_urlsafe(32)
    now = _now()
    expires_at = now + LINK_LIFETIME
    _add(
        LINKS,
        LINKS.c.expires_at < now,
        token_digest=_digest(secret),
        token_fingerprint=token_fingerprint,
        next_path=next_path,
        expires_at=expires_at,
    )
    return secret, expires_at


def use_link(secret, token_fingerprint):
    """Spend a one-time link: return where it leads, or raise LinkRefused. It is deleted in
    the same statement that reads it, so two browsers racing for it cannot both win."""
    if not isinstance(secret, str) or not secret or len(secret) > 128:
        raise LinkRefused()
    statement = (
        LINKS.delete()
        .where(LINKS.c.token_digest == _digest(secret))
        .returning(LINKS.c.next_path, LINKS.c.expires_at, LINKS.c.token_fingerprint)
    )
    with db.engine.begin() as connection:
        row = connection.execute(statement).first()
    if row is None or row.expires_at <= _now() or row.token_fingerprint != token_fingerprint:
        raise LinkRefused()
    return row.next_path
