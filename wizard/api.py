"""The JSON API under /api/v1."""

from flask import Blueprint

from .auth import is_admin
from .identity import load_identity, load_license_summary

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _iso(moment):
    return moment.isoformat() if moment else None


def status_document(identity, summary, admin):
    """What GET /api/v1/status answers: the public part for anyone, the details for the admin."""
    document = {
        "has_customer_info": bool(identity and identity.has_customer_info),
        "updated_at": _iso(identity.updated_at) if identity else None,
    }
    if admin:
        document.update(
            customer_id=identity.customer_id if identity else None,
            instance_id=identity.instance_id if identity else None,
            license_id_hint=identity.license_id_hint if identity else None,
            license=license_document(summary),
        )
    return document


def license_document(summary):
    """The stored license summary as JSON, or None."""
    if summary is None:
        return None
    return {
        "app_slug": summary.app_slug,
        "customer_name": summary.customer_name,
        "license_type": summary.license_type,
        "channel_name": summary.channel_name,
        "expires_at": _iso(summary.expires_at),
        "signing_key": summary.signing_key,
        "license_version": summary.license_version,
        "license_sequence": summary.license_sequence,
        "entitlements": summary.entitlements or [],
        "source": summary.source,
        "verified_at": _iso(summary.verified_at),
    }


@bp.get("/status")
def status():
    """Whether the identity is set, and when it last changed; the admin gets the details."""
    admin = is_admin()
    summary = load_license_summary() if admin else None
    return status_document(load_identity(), summary, admin)
