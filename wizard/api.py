"""The JSON API under /api/v1: the status for anyone, and for the admin every write the
wizard can do. Errors are JSON here, never HTML."""

from flask import Blueprint, current_app, json, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from .auth import admin_credential, is_admin
from .config import license_policy
from .forms import IdentityApiForm, LicenseImportApiForm
from .identity import (
    UNCHANGED,
    Actor,
    load_identity,
    load_license_summary,
    load_status,
    save_identity,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


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


def _saved_document(saved):
    """What a write answers: the identity just saved, as an admin's status shows it."""
    return status_document(saved, load_license_summary(), admin=True)


def _actor():
    return Actor("api", who=admin_credential(), client_address=request.remote_addr)


def _unprocessable(errors, reason=None):
    body = {"errors": errors}
    if reason is not None:
        body["reason"] = reason
    return body, 422


@bp.get("/status")
def status():
    """Whether the identity is set, and when it last changed; the admin gets the details."""
    if not is_admin():
        return status_document(load_identity(), None, admin=False)
    identity, summary, _ = load_status(changes=0)
    return status_document(identity, summary, admin=True)


def _json_object():
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send the identity as JSON, with Content-Type: application/json."
        )
    try:
        body = json.loads(request.get_data())
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None
    if not isinstance(body, dict):
        raise BadRequest(
            'The body must be a JSON object: {"customer_id": ..., "instance_id": ...}.'
        )
    return body


@bp.put("/identity")
def put_identity():
    """Save the ids; a license_id left out is kept, a null one is cleared."""
    form = IdentityApiForm(_json_object())
    if not form.validate():
        return _unprocessable(form.all_errors)
    license_id = form.license_id.data if "license_id" in form._raw else UNCHANGED
    saved = save_identity(form.customer_id.data, form.instance_id.data, license_id, actor=_actor())
    return _saved_document(saved)


def _license_upload():
    """The license file from a YAML body or the multipart field `license`, and the fields."""
    fields = MultiDict(request.args)
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        fields.update(request.form)
        upload = request.files.get("license")
        text = fields.pop("license", None)
        data = upload.read() if upload else text
        if not data:
            return None, fields
        return data, fields
    if mimetype in YAML_TYPES:
        return request.get_data(), fields
    raise UnsupportedMediaType(
        "Send the license file as the body (Content-Type: application/yaml) or as the "
        "multipart/form-data field `license`."
    )


@bp.post("/license")
def post_license():
    """Verify a license file and save the identity it gives, with this installation's ids."""
    data, fields = _license_upload()
    form = LicenseImportApiForm(fields.to_dict())
    errors = {} if form.validate() else form.all_errors
    if data is None:
        return _unprocessable(
            {
                **errors,
                "license": [
                    "License is missing: send the file as the body or as the multipart "
                    "field license."
                ],
            },
            reason="not_a_license",
        )
    policy = license_policy(current_app)
    number = form.license_number.data if isinstance(form.license_number.data, int) else 1
    verdict = policy.verify(data, choice=number - 1)
    if not verdict.valid:
        return _unprocessable({**errors, "license": [verdict.message]}, reason=str(verdict.reason))
    lic = verdict.license
    customer_id = form.customer_id.data
    if lic.customer_id and customer_id and customer_id != lic.customer_id:
        errors["customer_id"] = [
            f"Customer ID {customer_id} differs from the license's signed customer ID "
            f"{lic.customer_id}: leave it out."
        ]
    elif not lic.customer_id and not customer_id and "customer_id" not in errors:
        errors["customer_id"] = ["Customer ID is required: this license does not carry one."]
    if errors:
        return _unprocessable(errors, reason=str(verdict.reason))
    saved = save_identity(
        lic.customer_id or customer_id,
        form.instance_id.data,
        lic.license_id,
        summary=lic.summary("api"),
        actor=_actor(),
    )
    return _saved_document(saved)
