"""What verifying a license gives: the reason code, the license as signed, the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..ids import license_id_hint


class Reason(StrEnum):
    """Why a license was accepted or refused: the `reason` code of the CLI and the API."""

    OK = "ok"
    EXPIRED = "expired"
    SIGNATURE_INVALID = "signature_invalid"
    TAMPERED = "tampered"
    WRONG_APP = "wrong_app"
    NOT_A_LICENSE = "not_a_license"
    UNSUPPORTED_VERSION = "unsupported_version"


class LicenseError(Exception):
    """A license refused before it could be verified; carries the reason and the admin's words."""

    def __init__(self, reason: Reason, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Entitlement:
    """One license field, as signed."""

    name: str
    title: str | None
    value: object
    value_type: str | None
    hidden: bool


@dataclass(frozen=True)
class License:
    """What a license says, every value taken from its signed data."""

    license_id: str
    app_slug: str | None
    customer_id: str | None
    customer_name: str | None
    customer_email: str | None
    license_type: str | None
    channel_id: str | None
    channel_name: str | None
    license_sequence: int | None
    expires_at: datetime | None
    version: str
    key: str
    entitlements: tuple[Entitlement, ...] = field(default=())
    endpoint: str | None = None

    @property
    def license_id_hint(self) -> str | None:
        """The license id as it may be shown: its last four characters."""
        return license_id_hint(self.license_id)

    @property
    def visible_entitlements(self) -> tuple[Entitlement, ...]:
        """The entitlements the customer may see; hidden ones are never shown or stored."""
        return tuple(e for e in self.entitlements if not e.hidden)

    def summary(self, source: str) -> dict[str, Any]:
        """The columns of the stored license summary."""
        return {
            "app_slug": self.app_slug,
            "customer_name": self.customer_name,
            "license_type": self.license_type,
            "channel_name": self.channel_name,
            "expires_at": self.expires_at,
            "signing_key": self.key,
            "license_version": self.version,
            "license_sequence": self.license_sequence,
            "entitlements": [
                {"name": e.name, "title": e.title, "value": e.value, "value_type": e.value_type}
                for e in self.visible_entitlements
            ],
            "source": str(source),
            "endpoint": self.endpoint,
            "channel_id": self.channel_id,
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one license: the reason code, the admin's words, the license."""

    reason: Reason
    message: str
    license: License | None = None
    field: str | None = None  # for `tampered`: the first field that differs from the signed data

    @property
    def valid(self) -> bool:
        return self.reason is Reason.OK

    def as_json(self, show_license_id: bool = False) -> dict[str, Any]:
        """What `setup-wizard verify-license --json` prints. The license id doubles as a
        credential: only its last four characters, unless asked for."""
        lic = self.license
        facts: dict[str, Any] = dict.fromkeys(
            ("license_id", "app_slug", "customer_id", "customer_name", "license_type"),
        )
        facts.update(expires_at=None, key=None, version=None)
        if lic:
            facts.update(
                license_id=lic.license_id if show_license_id else lic.license_id_hint,
                app_slug=lic.app_slug,
                customer_id=lic.customer_id,
                customer_name=lic.customer_name,
                license_type=lic.license_type,
                expires_at=lic.expires_at.isoformat() if lic.expires_at else None,
                key=lic.key,
                version=lic.version,
            )
        return {"valid": self.valid, "reason": str(self.reason), "message": self.message, **facts}
