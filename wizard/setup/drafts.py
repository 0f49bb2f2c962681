"""The wizard's answers between its steps: a typed draft, kept on the server for one browser.

The browser's session holds a random key; the database holds the answers under its digest.
Back, reload, a bookmark, a new unlock and another worker or replica all find the same draft;
the license text never travels in a URL or a page.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import session

from ..db import db, dialect_insert, driver_reads
from ..identity import DRAFT_SOURCES, Source
from ..models import SetupDraft, table_of

# An admin who leaves the wizard longer than this starts again.
DRAFT_LIFETIME = timedelta(hours=2)

DRAFTS = table_of(SetupDraft)


class StartAgain(Exception):
    """The wizard cannot go on from here: no draft, an expired one, or a license that no longer
    verifies. The message says why; the blueprint sends the admin back to the start."""


@dataclasses.dataclass
class Draft:
    """What the admin has answered so far."""

    source: Source
    license_text: str | None = None  # the uploaded or pasted file
    license_number: int | None = None  # which license of the file (from 1), once chosen
    sdk: dict[str, Any] | None = None  # what the Replicated SDK reported (Detected.draft_json)
    customer_id: str | None = None
    instance_id: str | None = None
    instance_id_origin: str | None = None  # sdk, saved, typed or generated
    license_id: str | None = None  # typed, when there is no license (None: keep the saved one)
    details_done: bool = False

    def __post_init__(self) -> None:
        source = Source(self.source)  # ValueError for a word that is none of them
        if source not in DRAFT_SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        self.source = source

    @property
    def fingerprint(self) -> str:
        """Changes whenever any answer does: the review page carries it, so a save from a
        review that another tab has changed since is refused."""
        answers = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(answers.encode()).hexdigest()[:32]

    @property
    def needs_choice(self) -> bool:
        return self.license_text is not None and self.license_number is None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_READ_DRAFT = sa.select(DRAFTS.c.answers, DRAFTS.c.updated_at).where(
    DRAFTS.c.key_digest == sa.bindparam("digest")
)


def load_draft() -> Draft:
    """The draft of this browser; StartAgain when there is none or it expired."""
    key = session.get("draft")
    if not isinstance(key, str):
        raise StartAgain("Nothing is in progress here: choose how to give the license details.")
    [rows] = driver_reads((_READ_DRAFT, {"digest": _digest(key)}))
    row = rows[0] if rows else None
    if row is None or row.updated_at < datetime.now(UTC) - DRAFT_LIFETIME:
        raise StartAgain("This setup was left too long, or was saved already. Start again.")
    try:
        return Draft(**row.answers)
    except (TypeError, ValueError):
        raise StartAgain(
            "This setup was made by an older version of the wizard. Start again."
        ) from None


def has_draft_key() -> bool:
    """Whether this browser was given a draft: only an admin's browser is."""
    return isinstance(session.get("draft"), str)


def _key() -> str:
    """This browser's key to its draft (and to what a step echoes), made on first use."""
    key = session.get("draft")
    if not isinstance(key, str):
        key = session["draft"] = secrets.token_urlsafe(32)
    return key


def _store(digest: str, answers: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        connection.execute(DRAFTS.delete().where(DRAFTS.c.updated_at < now - DRAFT_LIFETIME))
        statement = dialect_insert(connection.dialect.name, DRAFTS).values(
            key_digest=digest, answers=answers, updated_at=now
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["key_digest"], set_={"answers": answers, "updated_at": now}
            )
        )


def save_draft(draft: Draft) -> None:
    """Keep the draft for this browser (a new key the first time). A new answer replaces
    whatever a refused form left on the steps."""
    _store(_digest(_key()), dataclasses.asdict(draft))
    _forget_echoes(_key())


def discard_draft() -> None:
    """Forget this browser's draft (it was saved, or the admin starts over)."""
    key = session.pop("draft", None)
    if isinstance(key, str):
        with db.engine.begin() as connection:
            connection.execute(DRAFTS.delete().where(DRAFTS.c.key_digest == _digest(key)))
        _forget_echoes(key)


# --- What a step echoes after a redirect ---------------------------------------------------


ECHO_STEPS = ("upload", "paste", "choose", "details", "review")


@dataclasses.dataclass
class Echo:
    """What a step shows after the redirect that follows a refused form, and on every reload
    until the admin answers again: what was typed (never a token or a file), the errors by
    field, and a problem for the whole page."""

    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    problem: str | None = None
    asking: bool = False


def keep_echo(step: str, echo: Echo) -> None:
    """Keep what the step must show after its redirect (on the server: a pasted license may
    be large)."""
    _store(_digest(f"{_key()}#{step}"), {"echo": dataclasses.asdict(echo)})


def take_echo(step: str) -> Echo | None:
    """What the step keeps for this browser: Back and reload show the refused form again, as
    it was sent, until a new answer (a draft saved, or dropped) replaces it."""
    key = session.get("draft")
    if not isinstance(key, str):
        return None
    [rows] = driver_reads((_READ_DRAFT, {"digest": _digest(f"{key}#{step}")}))
    if not rows or rows[0].updated_at < datetime.now(UTC) - DRAFT_LIFETIME:
        return None
    try:
        return Echo(**rows[0].answers["echo"])
    except (KeyError, TypeError):
        return None


def _forget_echoes(key: str) -> None:
    digests = [_digest(f"{key}#{step}") for step in ECHO_STEPS]
    with db.engine.begin() as connection:
        connection.execute(DRAFTS.delete().where(DRAFTS.c.key_digest.in_(digests)))
