"""The JSON API under /api/v1: the status for anyone, and for the admin every write the
wizard can do. Errors are JSON here, never HTML."""

from datetime import UTC, datetime

from flask import Blueprint, current_app, json, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, Forbidden, Unauthorized, UnsupportedMediaType

from . import admin_sessions
from .admin_token import token_fingerprint
from .auth import admin_credential, authenticate_bearer, bearer_token, is_admin, safe_next
from .forms import IdentityApiForm, LicenseImportApiForm
from .identity import (
    UNCHANGED,
    Actor,
    CustomerIdProblem,
    InvalidValue,
    customer_id_for,
    load_identity,
    load_status,
    load_summary,
    save_identity,
    status_document,
)
from .licenses import LicenseError, LicensePolicy
from .security import SAFE_METHODS, csrf, from_another_site

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # checked below, where a session (not a bearer token) makes the call

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


@bp.before_request
def require_the_admin_for_writes():
    """Every write needs the admin. A script sends the admin token as a bearer token (checked in
    every mode, WIZARD_AUTH=none too). Without one it is a browser's write: it needs the admin
    session (or WIZARD_AUTH=none) and the session's CSRF token, and never comes from another
    site, so a page elsewhere cannot make the admin's browser write here."""
    if request.method in SAFE_METHODS or request.routing_exception is not None:
        return
    if bearer_token() is not None:
        authenticate_bearer()
        return
    if not is_admin():
        raise Unauthorized("Send the admin token as `Authorization: Bearer <token>`.")
    if from_another_site():
        raise Forbidden("This request came from another site, so it was refused.")
    csrf.protect()


def _saved_document(saved):
    """What a write answers: the identity just saved, as an admin's status shows it."""
    return status_document(saved, load_summary(), admin=True)


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
        raise UnsupportedMediaType("Send the body as JSON, with Content-Type: application/json.")
    try:
        body = json.loads(request.get_data())
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: {error}.") from None
    except RecursionError:
        raise BadRequest("The body is not valid JSON: it is nested too deeply.") from None
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
    license_id = form.license_id.data if form.was_sent("license_id") else UNCHANGED
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
        return data or None, fields
    if mimetype in YAML_TYPES:
        return request.get_data(), fields
    raise UnsupportedMediaType(
        "Send the license file as the body (Content-Type: application/yaml) or as the "
        "multipart/form-data field `license`."
    )


def _choose_license(policy, data, number):
    """The verdict on the license to save, or the 422 that says why there is none: a file of
    several licenses sent without license_number lists each with its verdict."""
    try:
        documents = policy.documents(data)
    except LicenseError as error:
        return None, _unprocessable({"license": [error.message]}, reason=str(error.reason))
    count = len(documents)
    if number is None and count > 1:
        body, status = _unprocessable(
            {
                "license_number": [
                    f"This file holds {count} licenses: say which one to save with "
                    f"license_number (1 to {count})."
                ]
            }
        )
        body["licenses"] = [policy.verify_document(document).as_json() for document in documents]
        return None, (body, status)
    if (number or 1) > count:
        message = f"License number {number}: this file holds {count} license(s)."
        return None, _unprocessable({"license_number": [message]})
    return policy.verify_document(documents[(number or 1) - 1]), None


@bp.post("/license")
def post_license():
    """Verify a license file and save the identity it gives, with this installation's ids."""
    data, fields = _license_upload()
    form = LicenseImportApiForm(fields.to_dict())
    errors = {} if form.validate() else form.all_errors
    if data is None:
        errors["license"] = [
            "License is missing: send the file as the body or as the multipart field license."
        ]
        return _unprocessable(errors, reason="not_a_license")
    number = form.license_number.data if isinstance(form.license_number.data, int) else None
    verdict, refusal = _choose_license(LicensePolicy.for_app(current_app), data, number)
    if refusal is not None:
        body, status = refusal
        body["errors"] = {**body["errors"], **errors}  # the form's own words win
        return body, status
    if not verdict.valid:
        return _unprocessable({**errors, "license": [verdict.message]}, reason=str(verdict.reason))
    lic = verdict.license
    customer_id = None
    if "customer_id" not in errors:
        try:
            customer_id = customer_id_for(lic.customer_id, form.customer_id.data)
        except CustomerIdProblem as problem:
            errors["customer_id"] = [f"Customer ID {problem}."]
    if errors:
        return _unprocessable(errors, reason=str(verdict.reason))
    try:
        saved = save_identity(
            customer_id,
            form.instance_id.data,
            lic.license_id,
            summary=lic.summary("api"),
            actor=_actor(),
        )
    except InvalidValue as error:
        return _unprocessable({"license": [str(error)]}, reason="not_a_license")
    return _saved_document(saved)


@bp.post("/unlock-link")
def unlock_link():
    """A one-time link that opens the wizard unlocked, for a console that holds the admin token:
    valid for a minute, good for one browser session. Body (optional): {"next": "/setup/"}."""
    if bearer_token() is None:
        raise Forbidden("Ask for an unlock link with the admin token as a bearer token.")
    body = _json_object() if request.get_data() else {}
    next_path = body.get("next", "/")
    if safe_next(next_path) is None or len(next_path) > 512:
        return _unprocessable({"next": ["next must be a path on this wizard, such as /setup/."]})
    secret, expires_at = admin_sessions.create_link(token_fingerprint(), next_path)
    path = url_for("auth.unlock_link", secret=secret)
    return {
        "path": path,
        "url": request.host_url.rstrip("/") + path,
        "expires_at": expires_at.isoformat(),
        "expires_in": round((expires_at - datetime.now(UTC)).total_seconds()),
    }
