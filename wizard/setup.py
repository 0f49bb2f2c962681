"""The wizard: choose a source, give the license (or type the ids), complete the details,
review, save.

Every step has its own address. A form posts to its step's address and, once its answers are
kept in the draft, is redirected to the next step's: Back, reload and a bookmark show a step,
never "Confirm Form Resubmission", and an admin sent to unlock comes back to the same step.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from . import sdk
from .auth import admin_credential, require_admin
from .database import database_problem
from .drafts import Draft, StartAgain, discard_draft, load_draft, save_draft
from .forms import ChooseLicenseForm, IdentityForm, PasteForm, ReviewForm, UploadForm
from .id_rule import license_id_hint
from .identity import (
    UNCHANGED,
    Actor,
    CustomerIdProblem,
    InvalidValue,
    StaleIdentity,
    customer_id_for,
    load_identity,
    load_status,
    save_identity,
)
from .licenses import LicenseError, LicensePolicy, document_label
from .security import from_another_site

bp = Blueprint("setup", __name__, url_prefix="/setup")
bp.before_request(require_admin)


def _policy():
    return LicensePolicy.for_app(current_app)


@bp.errorhandler(StartAgain)
def start_again(error):
    """Any step that cannot go on sends the admin back to the start, saying why."""
    discard_draft()
    flash(str(error), "info")
    return redirect(url_for("setup.start"))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """A file or text over the limit: back to its step, with the limit and the field named."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.endpoint == "setup.upload":
        form, field, noun = UploadForm(formdata=None), "license_file", "file"
    elif request.endpoint == "setup.paste":
        form, field, noun = PasteForm(formdata=None), "license_text", "text"
    else:
        return error
    form[field].errors = [
        f"{form[field].label.text} is larger than {limit:,} bytes, the most this wizard accepts "
        f"(WIZARD_MAX_UPLOAD_BYTES). A license {noun} is a few KB: check that it is the license."
    ]
    template = "setup/upload.html" if noun == "file" else "setup/paste.html"
    return render_template(template, form=form, max_bytes=limit), 413


def _current_identity():
    """The saved identity, or None while the database does not answer (the page says so)."""
    try:
        return load_identity()
    except sa.exc.DBAPIError:
        flash(
            "The database is not answering right now: you can go on, but saving will wait "
            "until it is back. Nothing has been saved.",
            "error",
        )
        return None


def _next_step(draft):
    if draft.needs_choice:
        return url_for("setup.choose")
    if not draft.details_done:
        return url_for("setup.details")
    return url_for("setup.review")


def _in_progress():
    """The step to go on from, when this browser has a draft."""
    try:
        return _next_step(load_draft())
    except StartAgain:
        return None


@bp.get("/")
def start():
    """Choose how to give the license details."""
    return render_template(
        "setup/start.html",
        identity=load_identity(),
        sdk_url=current_app.config["WIZARD_REPLICATED_SDK_URL"],
        resume=_in_progress(),
    )


@bp.get("/detect")
def detect():
    """Ask the Replicated SDK in the cluster; on any failure, say why and offer the other ways."""
    if from_another_site():
        return redirect(url_for("setup.start"))
    sdk_url = current_app.config["WIZARD_REPLICATED_SDK_URL"]
    if not sdk_url:
        raise StartAgain(
            "Detection needs WIZARD_REPLICATED_SDK_URL (the address of the Replicated SDK, "
            "e.g. http://replicated:3000)."
        )
    try:
        found = sdk.detect(
            sdk_url,
            timeout=current_app.config["WIZARD_SDK_TIMEOUT"],
            expected_app=_policy().expected_app,
        )
    except sdk.SdkError as error:
        current_app.logger.warning("detection failed: %s", error)
        raise StartAgain(f"{error} You can upload, paste or type the details instead.") from None
    save_draft(
        Draft(
            "sdk",
            sdk=found.sealable(),
            customer_id=found.customer_id,
            instance_id=found.instance_id,
            instance_id_origin="sdk",
        )
    )
    return redirect(url_for("setup.details"))


@bp.route("/upload", methods=["GET", "POST"])
def upload():
    """Upload the license file."""
    form = UploadForm()
    if form.validate_on_submit():
        taken = _take_license(form.license_file.data.read(), "upload", form.license_file)
        if taken:
            return taken
    return render_template(
        "setup/upload.html", form=form, max_bytes=current_app.config["MAX_CONTENT_LENGTH"]
    )


@bp.route("/paste", methods=["GET", "POST"])
def paste():
    """Paste the text of the license file."""
    form = PasteForm()
    if form.validate_on_submit():
        taken = _take_license(form.license_text.data, "paste", form.license_text)
        if taken:
            return taken
    return render_template(
        "setup/paste.html", form=form, max_bytes=current_app.config["MAX_CONTENT_LENGTH"]
    )


def _take_license(data, source, field):
    """Keep a license file that verifies and go on; else None, with the field's error."""
    noun = "file" if source == "upload" else "text"
    try:
        documents = _policy().documents(data, noun=noun)
    except LicenseError as error:
        field.errors.append(f"{field.label.text}: {error.message}")
        return None
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    if len(documents) > 1:
        save_draft(Draft(source, license_text=text))
        return redirect(url_for("setup.choose"))
    verdict = _policy().verify(text, noun=noun)
    if not verdict.valid:
        field.errors.append(f"{field.label.text}: {verdict.message}")
        return None
    save_draft(Draft(source, license_text=text, choice=0))
    return redirect(url_for("setup.details"))


@bp.route("/choose", methods=["GET", "POST"])
def choose():
    """Pick one license from a file that holds several, each shown with its verdict."""
    draft = load_draft()
    if draft.license_text is None:
        raise StartAgain("There is no license file to choose from. Upload it again.")
    documents = _policy().documents(draft.license_text)
    options = [
        (number, document_label(document), _policy().verify_document(document))
        for number, document in enumerate(documents)
    ]
    form = ChooseLicenseForm()
    form.choice.choices = [(number, label) for number, label, _ in options]
    if request.method == "GET" and draft.choice is not None:
        form.choice.data = draft.choice
    if form.validate_on_submit():
        verdict = options[form.choice.data][2]
        if verdict.valid:
            save_draft(
                Draft(draft.source, license_text=draft.license_text, choice=form.choice.data)
            )
            return redirect(url_for("setup.details"))
        form.choice.errors.append(f"Which license? That one cannot be used: {verdict.message}")
    return render_template("setup/choose.html", form=form, options=options)


# /setup/manual and /setup/detect start a new draft on a GET (they are links on the start page).
# Followed from another site's link, the Lax cookie comes along: they send the admin to the
# start page instead of throwing away the answers.


@bp.get("/manual")
def manual():
    """Type the ids, without a license file."""
    if from_another_site():
        return redirect(url_for("setup.start"))
    save_draft(Draft("manual"))
    return redirect(url_for("setup.details"))


def _license_of(draft):
    """The draft's license, verified again (it may have expired since); None for typed ids."""
    if draft.sdk is not None:
        return sdk.Detected.from_sealed(draft.sdk).as_license()
    if draft.license_text is None:
        return None
    verdict = _policy().verify(draft.license_text, choice=draft.choice or 0)
    if not verdict.valid:
        raise StartAgain(f"{verdict.message} Nothing was saved.")
    return verdict.license


def _prefill(draft, lic, current):
    """What the details form shows first: the draft's answers, else what the license or the SDK
    says, else what is saved. A license for another license id never inherits the saved
    customer id: it may belong to another customer."""
    same_license = lic is None or (current is not None and current.license_id == lic.license_id)
    customer_id = draft.customer_id or (lic.customer_id if lic else None)
    if not customer_id and current and same_license:
        customer_id = current.customer_id
    return {
        "customer_id": customer_id,
        "instance_id": draft.instance_id or (current.instance_id if current else None),
        "license_id": draft.license_id,
    }


def _draft_page(template, draft, lic, current, status=200, **context):
    """A step that shows the draft: its license (or what the SDK reported), what is saved now,
    and whether the SDK answered with mock data."""
    mock = bool(draft.sdk and draft.sdk.get("integration_mode"))
    page = render_template(
        template, license=lic, current=current, draft=draft, mock=mock, **context
    )
    return page, status


def _details_page(form, draft, lic, current, asking=False, status=200):
    return _draft_page("setup/details.html", draft, lic, current, status, form=form, asking=asking)


@bp.route("/details", methods=["GET", "POST"])
def details():
    """Complete what the license does not say; Review (or Enter) goes on to the review."""
    draft = load_draft()
    if draft.needs_choice:
        return redirect(url_for("setup.choose"))
    lic = _license_of(draft)
    current = _current_identity()
    if request.method == "GET":
        form = IdentityForm(formdata=None, data=_prefill(draft, lic, current))
        return _details_page(form, draft, lic, current)
    form = IdentityForm()
    if lic:
        # What the license says is signed: it is shown, never taken from the form.
        form.license_id.data = lic.license_id
        if lic.customer_id:
            form.customer_id.data = lic.customer_id
    if form.replace_instance_id.data or form.generate_instance_id.data:
        if draft.source == "sdk":
            form.instance_id.errors = ["The Replicated SDK reported the instance ID: keep it."]
            return _details_page(form, draft, lic, current, status=422)
        # What was typed is kept (in the draft), whatever the admin answers.
        draft.customer_id = form.customer_id.data or None
        draft.license_id = None if lic else (form.license_id.data or None)
        if (form.instance_id.data or "").strip() and not form.replace_instance_id.data:
            draft.instance_id = form.instance_id.data
            save_draft(draft)
            return _details_page(form, draft, lic, current, asking=True)
        draft.instance_id, draft.instance_id_origin = str(uuid.uuid4()), "generated"
        save_draft(draft)
        flash("A new instance ID was generated. Check the other fields, then review.", "info")
        return redirect(url_for("setup.details"))
    if not form.validate():
        return _details_page(form, draft, lic, current, status=422)
    try:
        customer_id = customer_id_for(
            lic.customer_id if lic else None,
            form.customer_id.data,
            "the Replicated SDK" if draft.source == "sdk" else "the license",
        )
    except CustomerIdProblem as problem:
        form.customer_id.errors = [f"Customer ID {problem}."]
        return _details_page(form, draft, lic, current, status=422)
    if form.instance_id.data != draft.instance_id:
        saved = current.instance_id if current else None
        draft.instance_id_origin = "saved" if form.instance_id.data == saved else "typed"
    draft.customer_id = customer_id
    draft.instance_id = form.instance_id.data
    draft.license_id = None if lic else form.license_id.data
    # Typed ids without a license id keep the saved one (the review says so).
    draft.keep_license_id = lic is None and not form.license_id.data
    draft.details_done = True
    save_draft(draft)
    return redirect(url_for("setup.review"))


def _after(draft, lic, current):
    """The identity as it will be once saved."""
    if lic:
        license_id = lic.license_id
    elif draft.keep_license_id:
        license_id = current.license_id if current else None
    else:
        license_id = draft.license_id
    return {
        "customer_id": draft.customer_id,
        "instance_id": draft.instance_id,
        "license_id": license_id,
    }


def describe_changes(current, summary, after, lic):
    """What saving changes, in words: a line for each id, and warnings when the new license
    belongs to another customer or application, or typed ids drop a verified license."""
    if current is None or not current.has_customer_info:
        return ["Nothing identifies this installation yet: these values will."], []
    lines = []
    for label, name in (("Customer ID", "customer_id"), ("Instance ID", "instance_id")):
        old, new = getattr(current, name), after[name]
        lines.append(
            f"{label} stays {old}." if old == new else f"{label} changes from {old} to {new}."
        )
    old_hint = current.license_id_hint or "none"
    new_hint = license_id_hint(after["license_id"]) or "none"
    same_license = current.license_id == after["license_id"]
    lines.append(
        f"License ID stays {old_hint}."
        if same_license
        else f"License ID changes from {old_hint} to {new_hint}."
    )
    warnings = []
    if lic and summary:
        if summary.customer_name and lic.customer_name != summary.customer_name:
            warnings.append(
                f"The license belongs to another customer: {lic.customer_name or 'unnamed'}, "
                f"not {summary.customer_name}."
            )
        if summary.app_slug and lic.app_slug != summary.app_slug:
            warnings.append(
                f"The license is for another application: {lic.app_slug or 'none'}, "
                f"not {summary.app_slug}."
            )
    elif lic is None and summary and not same_license:
        who = ", ".join(filter(None, (summary.customer_name, summary.app_slug)))
        warnings.append(
            f"The verified license details ({who or 'the license summary'}) will be removed: "
            "typed IDs cannot be verified. Upload the license file to keep them."
        )
    return lines, warnings


def _parse_based_on(text):
    if text == "none":
        return None
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise StartAgain("This review page was altered. Start again; nothing was saved.") from None


@bp.route("/review", methods=["GET", "POST"])
def review():
    """Show exactly what will be saved, and what changes; Save saves it."""
    draft = load_draft()
    if draft.needs_choice or not draft.details_done:
        return redirect(_next_step(draft))
    lic = _license_of(draft)
    form = ReviewForm()
    problem = status = None
    if form.validate_on_submit():
        if form.shown.data != draft.fingerprint:
            problem, status = (
                "These answers were changed in another tab or window since this review was "
                "shown. Nothing was saved. The review below shows them as they are now: save "
                "again if they are the right ones.",
                409,
            )
        else:
            outcome = _save(draft, lic, _parse_based_on(form.based_on.data))
            if not isinstance(outcome, tuple):
                return outcome
            problem, status = outcome
    try:
        current, summary, _ = load_status(changes=0)
    except sa.exc.DBAPIError:
        current = summary = None
        problem = problem or (
            "The database is not answering right now, so the current values cannot be shown "
            "and saving will fail. Nothing has been saved."
        )
    form.based_on.data = current.updated_at.isoformat() if current else "none"
    form.shown.data = draft.fingerprint
    after = _after(draft, lic, current)
    changes, warnings = describe_changes(current, summary, after, lic)
    return _draft_page(
        "setup/review.html",
        draft,
        lic,
        current,
        status or 200,
        form=form,
        after=after,
        changes=changes,
        warnings=warnings,
        problem=problem,
    )


def _save(draft, lic, based_on):
    """Save the draft as reviewed: a redirect to the status page, or (the problem in words,
    the HTTP status)."""
    license_id = _after(draft, lic, None)["license_id"]
    if lic is None and draft.keep_license_id:
        license_id = UNCHANGED
    try:
        save_identity(
            draft.customer_id,
            draft.instance_id,
            license_id,
            summary=lic.summary(draft.source) if lic else None,
            actor=Actor("wizard", who=admin_credential(), client_address=request.remote_addr),
            based_on=based_on,
        )
    except StaleIdentity as stale:
        now = stale.current
        return (
            "Someone else saved the identity while this review was open"
            + (f" (customer {now.customer_id}, instance {now.instance_id})" if now else "")
            + ". Nothing was saved. The review below now compares with what is saved: save "
            "again if your values are still the right ones.",
            409,
        )
    except InvalidValue as error:
        return f"{error} Nothing was saved.", 422
    except sa.exc.DBAPIError as error:
        problem = database_problem(error)
        current_app.logger.warning("save failed (%s): %s", problem.kind, problem.detail)
        return (
            f"{problem.message} Nothing was saved. Check the database, then press Save again.",
            problem.status,
        )
    discard_draft()
    flash("Saved. This installation is identified.", "success")
    return redirect(url_for("status.page"))
