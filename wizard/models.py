"""The identity row, the summary of the license it came from, the history of changes, the
reports of this installation, and the wizard's own bookkeeping (throttling, admin sessions,
unlock links, drafts)."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .db import Base, UTCDateTime, db, utcnow
from .ids import MAX_ID_LENGTH as ID_LENGTH
from .ids import checked_ids, license_id_hint

if TYPE_CHECKING:  # what Flask-SQLAlchemy makes of the Base, as type checkers see it
    Model = Base
else:
    Model = db.Model


def table_of(model: type[Any]) -> sa.Table:
    """The table of a model, as the Core statements that read and write it take it."""
    return cast(sa.Table, model.__table__)


class IdentityFacts:
    """What the identity says, the same for the model and for the rows the store reads."""

    if TYPE_CHECKING:  # given by the model's columns, or the row's fields
        customer_id: str | None
        instance_id: str | None
        license_id: str | None

    @property
    def has_customer_info(self) -> bool:
        """True exactly when both the customer id and the instance id are set."""
        return bool((self.customer_id or "").strip() and (self.instance_id or "").strip())

    @property
    def license_id_hint(self) -> str | None:
        """The license id as pages may show it: its last four characters."""
        return license_id_hint(self.license_id)


class TelemetryIdentity(IdentityFacts, Model):
    """Who this installation is, for Replicated: at most one row, with id 1."""

    __tablename__ = "telemetry_identity"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row_constraint"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    customer_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    instance_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    license_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    # Set by the statement as well as by the table's default: a table the host application
    # created may have no server default.
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow(), server_default=utcnow()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow(), server_default=utcnow(), onupdate=utcnow()
    )

    _OPTIONAL_FIELDS = frozenset({"license_id"})

    def set_customer_info(self, customer_id: str, instance_id: str, **kwargs: str | None) -> None:
        """Write both ids, and each optional id that is passed (None clears it). Every value is
        checked by the one id rule before anything is written: ValueError (InvalidValue,
        naming the field) for a bad one, TypeError for an unknown keyword."""
        unknown = sorted(set(kwargs) - self._OPTIONAL_FIELDS)
        if unknown:
            raise TypeError(f"set_customer_info() got unexpected keyword argument(s): {unknown}")
        for name, value in checked_ids(customer_id, instance_id, **kwargs).items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return (
            f"<TelemetryIdentity customer_id={self.customer_id!r} instance_id={self.instance_id!r}>"
        )


class SingleRow:
    """A table of at most one row, with id 1, as the database enforces."""

    __tablename__: str

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[sa.CheckConstraint]:
        return (sa.CheckConstraint("id = 1", name=f"{cls.__tablename__}_single_row"),)


class LicenseSummary(SingleRow, Model):
    """What the license behind the identity says; hidden entitlements are never stored."""

    __tablename__ = "license_summary"

    app_slug: Mapped[str | None] = mapped_column(sa.String(255))
    customer_name: Mapped[str | None] = mapped_column(sa.String(255))
    license_type: Mapped[str | None] = mapped_column(sa.String(64))
    channel_name: Mapped[str | None] = mapped_column(sa.String(255))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signing_key: Mapped[str | None] = mapped_column(sa.String(255))
    license_version: Mapped[str | None] = mapped_column(sa.String(64))
    license_sequence: Mapped[int | None] = mapped_column(sa.BigInteger)
    entitlements: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
    source: Mapped[str | None] = mapped_column(sa.String(16))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=utcnow())
    # Where the installation reports to (the license's spec.endpoint), and its channel.
    endpoint: Mapped[str | None] = mapped_column(sa.String(512))
    channel_id: Mapped[str | None] = mapped_column(sa.String(255))


class IdentityChange(Model):
    """One save of the identity: when, how, by whom, from where, and what changed."""

    __tablename__ = "identity_history"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=utcnow(), index=True)
    method: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str | None] = mapped_column(sa.String(255))
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    old_customer_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    new_customer_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    old_instance_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    new_instance_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    # Only the last characters of a license id are ever kept here: it doubles as a credential.
    old_license_hint: Mapped[str | None] = mapped_column(sa.String(8))
    new_license_hint: Mapped[str | None] = mapped_column(sa.String(8))


class FailedUnlock(Model):
    """Wrong admin tokens per client (an IPv4 address or an IPv6 /64), counted in the database
    so every worker and replica throttles the same client alike."""

    __tablename__ = "failed_unlock"

    client_address: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=utcnow())
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)


class AdminSession(Model):
    """An unlocked browser session, kept on the server so that Lock and a new admin token end
    it for every worker and replica. The cookie holds the key; only its digest is stored."""

    __tablename__ = "admin_session"

    key_digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=utcnow())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=utcnow())


class UnlockLink(Model):
    """A one-time link that opens an admin session, asked for by a console holding the token."""

    __tablename__ = "unlock_link"

    token_digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    token_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    next_path: Mapped[str | None] = mapped_column(sa.String(512))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SetupDraft(Model):
    """The wizard's answers between steps, for one browser: Back, reload and a new unlock keep
    them, and any worker or replica can take the next step."""

    __tablename__ = "setup_draft"

    key_digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=utcnow())


class ReportRound(Model):
    """One report of this installation: what was collected, with the identity saved at that
    moment, written before it is sent; its attempts, and when it was sent."""

    __tablename__ = "report_round"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    mode: Mapped[str] = mapped_column(sa.String(16))
    customer_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    instance_id: Mapped[str] = mapped_column(sa.String(ID_LENGTH))
    # The credential the report is sent with: never shown, never logged.
    license_id: Mapped[str | None] = mapped_column(sa.String(ID_LENGTH))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    # None for a round that is kept, not sent (offline).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    served_from_cache: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.false()
    )


class ReportState(SingleRow, Model):
    """How reporting stands, for every worker and replica: who holds the lease to send, the
    last success and failure, and what the last report carried. One row."""

    __tablename__ = "report_state"

    mode: Mapped[str | None] = mapped_column(sa.String(16))
    state: Mapped[str | None] = mapped_column(sa.String(32))
    lease_holder: Mapped[str | None] = mapped_column(sa.String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sent: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    failures_total: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    dropped_total: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LicenseWatch(SingleRow, Model):
    """What keeps the license true after the first save: the Replicated SDK's license as last
    checked (in the background, never in a request), the deployment id kept with the identity,
    and a difference the admin chose to keep. One row."""

    __tablename__ = "license_watch"

    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_error: Mapped[str | None] = mapped_column(sa.String(1000))
    # What the SDK reported (Detected.draft_json): its license id is a credential, never shown.
    sdk_license: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    kept_deployment_id: Mapped[str | None] = mapped_column(sa.String(255))
    # `field=value`: a difference from the saved identity that the admin decided to keep.
    accepted_mismatch: Mapped[str | None] = mapped_column(sa.String(600))


# --- A save through the application's own session ---------------------------------------------


def _was(target: TelemetryIdentity, name: str) -> Any:
    """The value an attribute had before this flush (None for a new row)."""
    history = sa.inspect(target).attrs[name].history
    if history.deleted:
        return history.deleted[0]
    return history.unchanged[0] if history.unchanged else None


@sa.event.listens_for(TelemetryIdentity, "after_insert")
def _record_a_host_insert(
    mapper: Any, connection: sa.Connection, target: TelemetryIdentity
) -> None:
    _record_a_host_save(connection, target, inserted=True)


@sa.event.listens_for(TelemetryIdentity, "after_update")
def _record_a_host_update(
    mapper: Any, connection: sa.Connection, target: TelemetryIdentity
) -> None:
    _record_a_host_save(connection, target, inserted=False)


def _record_a_host_save(
    connection: sa.Connection, target: TelemetryIdentity, inserted: bool
) -> None:
    """The design's own usage (set_customer_info, then the application's own commit) is saved
    like every other save: a history entry in the same transaction, and the license summary
    dropped when the license id changes. The wizard's own saves go through Core, not here."""
    old = {name: None if inserted else _was(target, name) for name in _IDS}
    new = {name: getattr(target, name) for name in _IDS}
    if old == new and not inserted:
        return
    connection.execute(
        table_of(IdentityChange).insert(),
        {
            "method": "host",
            "actor": "the application's own code",
            "old_customer_id": old["customer_id"],
            "new_customer_id": new["customer_id"],
            "old_instance_id": old["instance_id"],
            "new_instance_id": new["instance_id"],
            "old_license_hint": license_id_hint(old["license_id"]),
            "new_license_hint": license_id_hint(new["license_id"]),
        },
    )
    if old["license_id"] != new["license_id"]:
        connection.execute(table_of(LicenseSummary).delete())


_IDS = ("customer_id", "instance_id", "license_id")
