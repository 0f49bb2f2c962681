"""Reporting in the database: each round written before it is sent, its attempts, the lease
that lets one process send at a time, and the state every worker and replica reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..db import db, driver_reads, utc_from_db
from ..models import ReportRound, ReportState, table_of
from .ways import Report

ROUNDS = table_of(ReportRound)
STATE = table_of(ReportState)

# Sent rounds are kept this long (the status shows the last one); unsent ones up to the cap
# (the SDK keeps 4,000 air-gapped events), the oldest dropped first.
RETENTION = timedelta(days=30)
UNSENT_CAP = 4000

STATE_FIELDS = tuple(c.name for c in STATE.columns if c.name not in ("id", "lease_holder"))
_READ_STATE = sa.select(*(STATE.c[name] for name in STATE_FIELDS)).where(STATE.c.id == 1)
_WAITING = sa.select(sa.func.count()).select_from(ROUNDS).where(ROUNDS.c.sent_at.is_(None))
_LAST_COLLECTED = sa.select(sa.func.max(ROUNDS.c.collected_at))


def read_state() -> Any:
    """How reporting stands (a row of report_state), or None before the schema has it."""
    [rows] = driver_reads((_READ_STATE, None))
    return rows[0] if rows else None


def waiting_rounds() -> int:
    """Rounds not sent yet (kept, in offline mode)."""
    [rows] = driver_reads((_WAITING, None))
    return int(rows[0][0])


def take_lease(holder: str, now: datetime, seconds: float) -> bool:
    """Hold the right to collect and send for `seconds`, unless another process holds it."""
    free = sa.or_(
        STATE.c.lease_until.is_(None),
        STATE.c.lease_until < now,
        STATE.c.lease_holder == holder,
    )
    statement = (
        STATE.update()
        .where(STATE.c.id == 1, free)
        .values(lease_holder=holder, lease_until=now + timedelta(seconds=seconds))
    )
    with db.engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def release_lease(holder: str) -> None:
    statement = (
        STATE.update()
        .where(STATE.c.id == 1, STATE.c.lease_holder == holder)
        .values(lease_holder=None, lease_until=None)
    )
    with db.engine.begin() as connection:
        connection.execute(statement)


def last_collected() -> datetime | None:
    """When the newest round was collected (None: never)."""
    [rows] = driver_reads((_LAST_COLLECTED, None))
    return utc_from_db(rows[0][0] if rows else None)


def add_round(report: Report, mode: str, skipped: list[dict[str, str]], send_now: bool) -> int:
    """Write a round before anything is sent; return its id."""
    statement = ROUNDS.insert().values(
        collected_at=report.collected_at,
        mode=mode,
        customer_id=report.customer_id,
        instance_id=report.instance_id,
        license_id=report.license_id,
        data=report.data,
        skipped=skipped,
        attempts=0,
        next_attempt_at=report.collected_at if send_now else None,
    )
    with db.engine.begin() as connection:
        key = connection.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


@dataclass(frozen=True)
class Due:
    """A round waiting to be sent."""

    id: int
    report: Report
    attempts: int
    skipped: list[dict[str, str]]


def due_rounds(mode: str, now: datetime, limit: int = 20) -> list[Due]:
    """The unsent rounds of this mode whose time has come, oldest first."""
    statement = (
        sa.select(ROUNDS)
        .where(
            ROUNDS.c.mode == mode,
            ROUNDS.c.sent_at.is_(None),
            ROUNDS.c.next_attempt_at.is_not(None),
            ROUNDS.c.next_attempt_at <= now,
        )
        .order_by(ROUNDS.c.collected_at, ROUNDS.c.id)
        .limit(limit)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(statement).all()
    return [
        Due(
            row.id,
            Report(row.customer_id, row.instance_id, row.license_id, row.data, row.collected_at),
            row.attempts,
            row.skipped or [],
        )
        for row in rows
    ]


def follow_mode(mode: str, now: datetime) -> int:
    """Rounds that did not get through take the way this installation reports now: kept for
    the usage file once offline, due at once through the SDK or direct. Rounds kept for the
    usage file stay there (the admin may have carried them out already). Return how many."""
    statement = (
        ROUNDS.update()
        .where(ROUNDS.c.sent_at.is_(None), ROUNDS.c.mode != mode, ROUNDS.c.mode != "offline")
        .values(mode=mode, next_attempt_at=None if mode == "offline" else now)
    )
    with db.engine.begin() as connection:
        return int(connection.execute(statement).rowcount or 0)


def next_retry(mode: str) -> datetime | None:
    """When the next unsent round of this mode is tried again (None: none waits)."""
    statement = sa.select(sa.func.min(ROUNDS.c.next_attempt_at)).where(
        ROUNDS.c.mode == mode, ROUNDS.c.sent_at.is_(None)
    )
    with db.engine.connect() as connection:
        return utc_from_db(connection.execute(statement).scalar_one_or_none())


def _update_round(round_id: int, **values: Any) -> None:
    with db.engine.begin() as connection:
        connection.execute(ROUNDS.update().where(ROUNDS.c.id == round_id).values(**values))


def mark_attempt(round_id: int, now: datetime) -> None:
    """Count an attempt before it is made: a process that dies while sending leaves it said."""
    _update_round(round_id, attempts=ROUNDS.c.attempts + 1, last_attempt_at=now)


def mark_sent(round_id: int, now: datetime, served_from_cache: bool) -> None:
    _update_round(
        round_id,
        sent_at=now,
        next_attempt_at=None,
        last_error=None,
        served_from_cache=served_from_cache,
    )


def mark_failed(round_id: int, error: str, next_attempt_at: datetime) -> None:
    _update_round(round_id, last_error=error[:1000], next_attempt_at=next_attempt_at)


def update_state(**values: Any) -> None:
    """Write what the status shows; counters given as increments (`failures=1`)."""
    failures = values.pop("failures", 0)
    dropped = values.pop("dropped", 0)
    if values.get("last_error"):
        values["last_error"] = values["last_error"][:1000]
    if failures:
        values["failures_total"] = STATE.c.failures_total + failures
    if dropped:
        values["dropped_total"] = STATE.c.dropped_total + dropped
    with db.engine.begin() as connection:
        connection.execute(STATE.update().where(STATE.c.id == 1).values(**values))


def prune(now: datetime) -> int:
    """Drop sent rounds older than the retention, and the oldest unsent ones past the cap;
    return how many unsent rounds the cap dropped."""
    with db.engine.begin() as connection:
        connection.execute(
            ROUNDS.delete().where(ROUNDS.c.sent_at.is_not(None), ROUNDS.c.sent_at < now - RETENTION)
        )
        unsent = connection.execute(_WAITING).scalar_one()
        if unsent <= UNSENT_CAP:
            return 0
        oldest = (
            sa.select(ROUNDS.c.id)
            .where(ROUNDS.c.sent_at.is_(None))
            .order_by(ROUNDS.c.collected_at, ROUNDS.c.id)
            .limit(unsent - UNSENT_CAP)
        )
        ids = connection.execute(oldest).scalars().all()
        connection.execute(ROUNDS.delete().where(ROUNDS.c.id.in_(ids)))
        return len(ids)


def kept_reports(all_unsent: bool = False) -> list[Report]:
    """Every round kept for the usage file (offline mode), oldest first; with all_unsent, the
    rounds that did not get through another way too."""
    kept = ROUNDS.c.sent_at.is_(None)
    statement = (
        sa.select(ROUNDS)
        .where(kept if all_unsent else sa.and_(kept, ROUNDS.c.mode == "offline"))
        .order_by(ROUNDS.c.collected_at, ROUNDS.c.id)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(statement).all()
    return [
        Report(row.customer_id, row.instance_id, row.license_id, row.data, row.collected_at)
        for row in rows
    ]
