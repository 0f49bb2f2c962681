"""The JSON API under /api/v1: the status for anyone, and for the admin every write the
wizard can do (the write guard checks them all). Errors are JSON here, never HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    json,
    request,
    request_finished,
    request_started,
    request_tearing_down,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    SecurityError,
    Unauthorized,
    UnsupportedMediaType,
)
from werkzeug.utils import get_content_type
from werkzeug.wsgi import get_host

from .admin import admin_credential, bearer_token, csrf, is_admin, safe_next
from .admin.sessions import create_link
from .admin.token import token_fingerprint
from .forms import IdentityApiForm, LicenseImportApiForm
from .identity import (
    UNCHANGED,
    Actor,
    CustomerIdProblem,
    InvalidValue,
    SavedIdentity,
    Source,
    customer_id_for,
    load_status,
    load_summary,
    save_identity,
    status_json,
)
from .licenses import LicenseError, NeedsChoice, Verdict
from .overview import status_body
from .reporting import export_usage
from .watch import license_change, license_policy
from .web.headers import EVERY_ANSWER, NO_STORE

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # the write guard checks a session's CSRF token itself, after the bearer token

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")

Json = dict[str, Any]

_REQUEST_SIGNALS = (request_started, request_finished, request_tearing_down)


def _saved(saved: SavedIdentity) -> Json:
    """What a write answers: the identity just saved, as an admin's status shows it."""
    return status_json(saved, load_summary(), admin=True)


def _actor() -> Actor:
    return Actor(Source.API, who=admin_credential(), client_address=request.remote_addr)


def _unprocessable(errors: dict[str, list[str]], reason: str | None = None) -> tuple[Json, int]:
    body: Json = {"errors": errors}
    if reason is not None:
        body["reason"] = reason
    return body, 422


@bp.get("/status")
def status() -> Json:
    """Whether the identity is set, when it last changed and whether reporting works; the admin
    gets the details. (AnonymousStatus answers an anonymous caller first, with this body.)"""
    error = request.environ.pop(AnonymousStatus.FAILED, None)
    if error is not None:
        raise error  # AnonymousStatus's read failed: answered here, as any failure is
    return status_body(admin=is_admin())


class AnonymousStatus:
    """Answer GET /api/v1/status for a caller that is certainly not the admin (no
    Authorization header, no session cookie) before Flask's request machinery: consoles,
    load balancers and monitors poll it, and it then costs its one database read and little
    more. The body and the headers are the view's; anyone else goes on to the view.

    It sits inside the proxy fix and the body limit, so it sees the request as the view
    would, and it answers only to the host names the view would answer to. A read that fails
    goes on to the view with its exception, which the view raises: the answer (a 503 in
    words, a line in the log) is the usual one, and a database that did not answer is not
    waited for twice. Once a host adds or replaces request hooks on the wizard's app (a gate,
    a header, a request id), listens to Flask's request signals, or replaces the view, the
    response class or process_response, every request goes through Flask, so that they apply
    to this one too.
    """

    PATH = "/api/v1/status"
    FAILED = "wizard.anonymous_status_failed"

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.wsgi_app = app.wsgi_app
        self._own_hooks: tuple[Any, ...] | None = None  # until seal(), Flask answers

    def seal(self) -> None:
        """Take note of the wizard's own hooks, once create_app has added them all."""
        self._own_hooks = self._hooks()

    def _hooks(self) -> tuple[Any, ...]:
        """What the app runs around a request beside the view: its hook functions themselves
        (a replaced one counts), the view, the response class and process_response."""
        app = self.app
        return (
            *(
                tuple(function for functions in registry.values() for function in functions)
                for registry in (
                    app.before_request_funcs,
                    app.after_request_funcs,
                    app.teardown_request_funcs,
                    app.url_value_preprocessors,
                )
            ),
            app.view_functions.get("api.status"),
            app.response_class,
            getattr(app.process_response, "__func__", None),
        )

    def _certainly_anonymous(self, environ: dict[str, Any]) -> bool:
        config = self.app.config
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") not in (
            "GET",
            "HEAD",
        ):
            return False
        if "HTTP_AUTHORIZATION" in environ or config["WIZARD_AUTH"] == "none":
            return False
        if config["SESSION_COOKIE_NAME"] in environ.get("HTTP_COOKIE", ""):
            return False
        trusted = config.get("TRUSTED_HOSTS")
        if trusted:
            try:
                get_host(environ, trusted)
            except SecurityError:
                return False  # the view's host check answers it
        if not _compact_json(self.app):
            return False  # the view indents its JSON for people while debugging
        if any(signal.has_receivers_for(self.app) for signal in _REQUEST_SIGNALS):
            return False  # the wizard listens to none: someone else wants to hear requests
        return self._own_hooks is not None and self._hooks() == self._own_hooks

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self._certainly_anonymous(environ):
            return self.wsgi_app(environ, start_response)
        try:
            with self.app.app_context():
                body = self.app.json.dumps(status_body(admin=False), separators=(",", ":"))
        except Exception as error:
            environ[self.FAILED] = error
            return self.wsgi_app(environ, start_response)
        data = f"{body}\n".encode()  # as app.json.response writes it, compact
        headers = [
            ("Content-Type", get_content_type(self.app.json.mimetype, "utf-8")),  # type: ignore[attr-defined]
            ("Content-Length", str(len(data))),
            *EVERY_ANSWER,
            NO_STORE,
        ]
        start_response("200 OK", headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else data]


def _compact_json(app: Flask) -> bool:
    """Whether the view's JSON is Flask's compact form (app.json.response's rule)."""
    provider = app.json
    if type(provider) is not DefaultJSONProvider:
        return False
    return bool(provider.compact) if provider.compact is not None else not app.debug


def answer_anonymous_status_first(app: Flask) -> AnonymousStatus:
    """Install AnonymousStatus right around Flask, inside everything else; seal() it once
    the app is complete."""
    lane = AnonymousStatus(app)
    app.wsgi_app = lane  # type: ignore[method-assign]
    return lane


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_object() -> Json:
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON, with Content-Type: application/json.")
    try:
        body = json.loads(request.get_data(), parse_constant=_no_constant)
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
def put_identity() -> Json | tuple[Json, int]:
    """Save the ids; a license_id left out is kept, a null one is cleared."""
    form = IdentityApiForm(_json_object())
    if not form.validate():
        return _unprocessable(form.all_errors)
    license_id = form.license_id.data if form.was_sent("license_id") else UNCHANGED
    saved = save_identity(form.customer_id.data, form.instance_id.data, license_id, actor=_actor())
    return _saved(saved)


def _license_upload() -> tuple[bytes | str | None, MultiDict[str, str]]:
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


def _chosen(data: bytes | str, number: int | None) -> Verdict | tuple[Json, int]:
    """The verdict on the license to save, or the 422 that says why there is none: a file of
    several licenses sent without license_number lists each with its verdict."""
    try:
        return license_policy(current_app).pick(data, number)
    except LicenseError as error:
        return _unprocessable({"license": [error.message]}, reason=str(error.reason))
    except NeedsChoice as several:
        body, status = _unprocessable({"license_number": [several.message("license_number")]})
        if several.number is None:
            body["licenses"] = [choice.verdict.as_json() for choice in several.choices]
        return body, status


@bp.post("/license")
def post_license() -> Json | tuple[Json, int]:
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
    verdict = _chosen(data, number)
    if not isinstance(verdict, Verdict):
        body, status = verdict
        body["errors"] = {**body["errors"], **errors}  # the form's own words win
        return body, status
    if not verdict.valid or verdict.license is None:
        return _unprocessable({**errors, "license": [verdict.message]}, reason=str(verdict.reason))
    lic = verdict.license
    customer_id = None
    if "customer_id" not in errors:
        try:
            customer_id = customer_id_for(lic.customer_id, form.customer_id.data)
        except CustomerIdProblem as problem:
            errors["customer_id"] = [f"Customer ID {problem}."]
    if errors or customer_id is None:
        return _unprocessable(errors, reason=str(verdict.reason))
    refusal = _against_the_saved_license(lic, customer_id, form)
    if refusal is not None:
        return refusal
    try:
        saved = save_identity(
            customer_id,
            form.instance_id.data,
            lic.license_id,
            summary=lic.summary(Source.API),
            actor=_actor(),
        )
    except InvalidValue as error:
        return _unprocessable({"license": [str(error)]}, reason="not_a_license")
    return _saved(saved)


def _against_the_saved_license(
    lic: Any, customer_id: str, form: LicenseImportApiForm
) -> tuple[Json, int] | None:
    """An older license than the saved one is refused (409) unless allow_older says so; the
    same license with the same ids saves nothing (200, up_to_date)."""
    current, summary, _ = load_status(changes=0)
    change = license_change(current, summary, lic)
    if change is None:
        return None
    if change.kind == "older" and not form.allow_older.data:
        body: Json = {
            "error": change.message,
            "errors": {"allow_older": [f"{change.message} Send allow_older=true to save it."]},
            "saved_sequence": change.saved_sequence,
            "license_sequence": change.new_sequence,
        }
        return body, 409
    unchanged = current is not None and (current.customer_id, current.instance_id) == (
        customer_id,
        form.instance_id.data,
    )
    if change.kind == "same" and unchanged:
        return {**status_json(current, summary, admin=True), "up_to_date": True}, 200
    return None


@bp.get("/usage")
def usage() -> Response:
    """The reports kept for the air-gapped usage file (offline mode), as the Replicated SDK
    keeps them, for the admin to send to the vendor."""
    if not is_admin():
        raise Unauthorized("The usage file is for the admin: send the admin token.")
    body = export_usage(current_app)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        json.dumps(body, indent=2) + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="usage-{stamp}.json"'},
    )


@bp.post("/unlock-link")
def unlock_link() -> Json | tuple[Json, int]:
    """A one-time link that opens the wizard unlocked, for a console that holds the admin token:
    valid for a minute, good for one browser session. Body (optional): {"next": "/setup/"}."""
    if bearer_token() is None:
        raise Forbidden("Ask for an unlock link with the admin token as a bearer token.")
    body = _json_object() if request.get_data() else {}
    next_path = body.get("next", "/")
    if safe_next(next_path) is None or len(next_path) > 512:
        return _unprocessable({"next": ["next must be a path on this wizard, such as /setup/."]})
    secret, expires_at = create_link(token_fingerprint(), next_path)
    path = url_for("auth.unlock_link", secret=secret)
    return {
        "path": path,
        "url": request.host_url.rstrip("/") + path,
        "expires_at": expires_at.isoformat(),
        "expires_in": round((expires_at - datetime.now(UTC)).total_seconds()),
    }
