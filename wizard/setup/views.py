"""The wizard: choose a source, give the license (or type the ids), complete the details,
review, save.

Every step has its own address. A form posts to its step's address and, once its answers are
kept in the draft, is redirected to the next step's: Back, reload and a bookmark show a step,
never "Confirm Form Resubmission", and an admin sent to unlock comes back to the same step.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from ..admin import admin_credential, from_another_site, require_admin
from ..db import database_problem
from ..forms import ChooseLicenseForm, IdentityForm, PasteForm, ReviewForm, UploadForm
from ..identity import (
    Actor,
    CustomerIdProblem,
    InvalidValue,
    SavedIdentity,
    Source,
    StaleIdentity,
    customer_id_for,
    kept_license_id,
    load_identity,
    load_status,
    save_identity,
)
from ..licenses import License, LicenseError, LicensePolicy, NeedsChoice, license_file_text, sdk
from ..overview import expected_app
from ..reporting.status import load_reporting
from ..watch import accept_mismatch, license_change, license_policy, read_watch
from ..words import size
from .changes import describe_changes, identity_after, prefill
from .drafts import (
    Draft,
    Echo,
    StartAgain,
    discard_draft,
    has_draft_key,
    keep_echo,
    load_draft,
    save_draft,
    take_echo,
)

bp = Blueprint("setup", __name__, url_prefix="/setup")


@bp.before_request
def require_the_admin_keeping_the_answers() -> Response | None:
    """Whoever is not the admin goes to unlock. A form sent to the details step by an admin
    whose session just ended (Lock in another tab) keeps what was typed: after the unlock,
    the step shows it again."""
    sent_to = request.endpoint == "setup.details" and request.method == "POST"
    refusal = require_admin()
    # Only a browser that has a draft, so was the admin: nobody else stores anything here.
    if refusal is not None and sent_to and has_draft_key():
        keep_echo("details", _typed())
    return refusal


Page = tuple[str, int]


class SaveRefused(Exception):
    """The review could not be saved: what to tell the admin, and the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _policy() -> LicensePolicy:
    return cast(LicensePolicy, license_policy(current_app))


@bp.errorhandler(StartAgain)
def start_again(error: StartAgain) -> Response:
    """Any step that cannot go on sends the admin back to the start, saying why. A request from
    another site never drops the answers: it is only sent to the start."""
    if not from_another_site():
        discard_draft()
    flash(str(error), "info")
    return redirect(url_for("setup.start"))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> Response | Page | RequestEntityTooLarge:
    """A file or text over the limit: back to its step through a redirect (a reload sends
    nothing again), with the limit and the field named."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    form: UploadForm | PasteForm
    if request.endpoint == "setup.upload":
        form, field, noun = UploadForm(formdata=None), "license_file", "file"
    elif request.endpoint == "setup.paste":
        form, field, noun = PasteForm(formdata=None), "license_text", "text"
    else:
        return error
    form[field].errors = [
        f"{form[field].label.text} is larger than {size(limit)}, the most this wizard accepts "
        f"(WIZARD_MAX_UPLOAD_BYTES). A license {noun} is a few KB, a little over 1 MiB with a "
        "large CA bundle: check that it is the license."
    ]
    if require_admin() is None:  # only the admin's browser keeps anything
        return _refused(request.endpoint.removeprefix("setup."), form)
    template = "setup/upload.html" if noun == "file" else "setup/paste.html"
    return render_template(template, form=form, max_bytes=limit), 413


def _current_identity() -> SavedIdentity | None:
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


def _next_step(draft: Draft) -> str:
    if draft.needs_choice:
        return url_for("setup.choose")
    if not draft.details_done:
        return url_for("setup.details")
    return url_for("setup.review")


def _in_progress() -> str | None:
    """The step to go on from, when this browser has a draft."""
    try:
        return _next_step(load_draft())
    except StartAgain:
        return None


@bp.get("/")
def start() -> str:
    """Choose how to give the license details."""
    return render_template(
        "setup/start.html",
        identity=load_identity(),
        sdk_url=current_app.config["WIZARD_REPLICATED_SDK_URL"],
        sdk_timeout=current_app.config["WIZARD_SDK_TIMEOUT"],
        resume=_in_progress(),
    )


@bp.post("/detect")
def detect() -> Response:
    """Ask the Replicated SDK in the cluster; on any failure, say why and offer the other ways."""
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
            Source.SDK,
            sdk=found.draft_json(),
            customer_id=found.customer_id,
            instance_id=found.instance_id,
            instance_id_origin="sdk",
        )
    )
    return redirect(url_for("setup.details"))


@bp.post("/newer")
def newer() -> Response:
    """Review the newer license the Replicated SDK holds (as last checked), as Detect would."""
    found = read_watch().sdk_license
    if not found:
        raise StartAgain("The Replicated SDK's license is not known yet. Try Detect instead.")
    save_draft(
        Draft(
            Source.SDK,
            sdk=found,
            customer_id=found.get("customer_id"),
            instance_id=found.get("instance_id"),
            instance_id_origin="sdk",
        )
    )
    return redirect(url_for("setup.details"))


@bp.post("/new-instance")
def new_instance() -> Response:
    """This installation is not the one the identity was saved on: the same customer and
    license, a new instance id, to review."""
    current = load_identity()
    if current is None or not current.has_customer_info:
        raise StartAgain("Nothing identifies this installation yet: choose how to set it.")
    save_draft(
        Draft(
            Source.MANUAL,
            customer_id=current.customer_id,
            instance_id=str(uuid.uuid4()),
            instance_id_origin="generated",
        )
    )
    flash("A new instance ID was generated for this installation. Check it, then review.", "info")
    return redirect(url_for("setup.details"))


@bp.post("/keep-identity")
def keep_identity() -> Response:
    """This is the same installation after all: keep the saved identity, and report again."""
    reporting, _ = load_reporting()
    mismatch = reporting.mismatch(current_app.config)
    if mismatch:
        accept_mismatch(mismatch)
        flash("The saved identity is kept for this installation; reports go on.", "success")
    return redirect(url_for("status.page"))


@bp.post("/manual")
def manual() -> Response:
    """Type the ids, without a license file."""
    save_draft(Draft(Source.MANUAL))
    return redirect(url_for("setup.details"))


def _refused(step: str, form: Any, echo: Echo | None = None) -> Response:
    """A refused form comes back through a redirect to its step, its errors and what was typed
    kept: Back and reload show the step, never a resubmission."""
    echo = echo or Echo()
    for field in form:
        if field.errors:
            echo.errors.setdefault(field.name, []).extend(field.errors)
    keep_echo(step, echo)
    return redirect(url_for(f"setup.{step}"), code=303)


def _echoed(step: str, form: Any) -> Echo | None:
    """What the step kept for this browser after a refused form: its errors back on the form."""
    echo = take_echo(step)
    if echo is not None:
        for name, messages in echo.errors.items():
            if name in form:
                form[name].errors = list(messages)
    return echo


@bp.route("/upload", methods=["GET", "POST"])
def upload() -> Response | str:
    """Upload the license file."""
    form = UploadForm()
    if form.validate_on_submit():
        taken = _take_license(form.license_file.data.read(), Source.UPLOAD, form.license_file)
        if taken:
            return taken
    if request.method == "POST":
        return _refused("upload", form)
    _echoed("upload", form)
    return render_template(
        "setup/upload.html", form=form, max_bytes=current_app.config["MAX_CONTENT_LENGTH"]
    )


@bp.route("/paste", methods=["GET", "POST"])
def paste() -> Response | str:
    """Paste the text of the license file."""
    form = PasteForm()
    if form.validate_on_submit():
        taken = _take_license(form.license_text.data, Source.PASTE, form.license_text)
        if taken:
            return taken
    if request.method == "POST":
        return _refused("paste", form, Echo({"license_text": form.license_text.data or ""}))
    echo = _echoed("paste", form)
    if echo is not None:
        form.license_text.data = echo.values.get("license_text", "")
    return render_template(
        "setup/paste.html", form=form, max_bytes=current_app.config["MAX_CONTENT_LENGTH"]
    )


def _take_license(data: bytes | str, source: Source, field: Any) -> Response | None:
    """Keep a license file that verifies and go on; else None, with the field's error."""
    try:
        verdict = _policy().pick(data)
    except LicenseError as error:
        field.errors.append(f"{field.label.text}: {error.message}")
        return None
    except NeedsChoice:
        save_draft(Draft(source, license_text=license_file_text(data)))
        return redirect(url_for("setup.choose"))
    if not verdict.valid:
        field.errors.append(f"{field.label.text}: {verdict.message}")
        return None
    save_draft(Draft(source, license_text=license_file_text(data), license_number=1))
    return redirect(url_for("setup.details"))


@bp.route("/choose", methods=["GET", "POST"])
def choose() -> Response | str:
    """Pick one license from a file that holds several, each shown with its verdict."""
    draft = load_draft()
    if draft.license_text is None:
        return redirect(_next_step(draft))  # nothing to choose: the step the answers are at
    try:
        _policy().pick(draft.license_text)
        return redirect(url_for("setup.details"))  # the file holds one license after all
    except NeedsChoice as several:
        choices = {choice.number: choice for choice in several.choices}
    form = ChooseLicenseForm()
    form.choice.choices = [(number, choice.label) for number, choice in choices.items()]
    if request.method == "GET" and draft.license_number is not None:
        form.choice.data = draft.license_number
    if form.validate_on_submit():
        verdict = choices[form.choice.data].verdict
        if verdict.valid:
            save_draft(
                Draft(
                    draft.source,
                    license_text=draft.license_text,
                    license_number=form.choice.data,
                )
            )
            return redirect(url_for("setup.details"))
        form.choice.errors.append(f"Which license? That one cannot be used: {verdict.message}")
    if request.method == "POST":
        return _refused("choose", form)
    _echoed("choose", form)
    return render_template("setup/choose.html", form=form, choices=list(choices.values()))


def _license_of(draft: Draft) -> License | None:
    """The draft's license, verified again (it may have expired since); None for typed ids."""
    if draft.sdk is not None:
        return sdk.Detected.from_draft_json(draft.sdk).as_license()
    if draft.license_text is None:
        return None
    try:
        verdict = _policy().pick(draft.license_text, number=draft.license_number)
    except (LicenseError, NeedsChoice) as error:
        raise StartAgain(f"{error} Nothing was saved.") from None
    if not verdict.valid or verdict.license is None:
        raise StartAgain(f"{verdict.message} Nothing was saved.")
    return verdict.license


def _draft_page(
    template: str,
    draft: Draft,
    lic: License | None,
    current: SavedIdentity | None,
    status: int = 200,
    **context: Any,
) -> Page:
    """A step that shows the draft: its license (or what the SDK reported), what is saved now,
    and whether the SDK answered with mock data."""
    mock = bool(draft.sdk and draft.sdk.get("integration_mode"))
    page = render_template(
        template, license=lic, current=current, draft=draft, mock=mock, **context
    )
    return page, status


def _details_page(
    form: IdentityForm,
    draft: Draft,
    lic: License | None,
    current: SavedIdentity | None,
    asking: bool = False,
    status: int = 200,
) -> Page:
    return _draft_page("setup/details.html", draft, lic, current, status, form=form, asking=asking)


@bp.route("/details", methods=["GET", "POST"])
def details() -> Response | Page:
    """Complete what the license does not say; Review (or Enter) goes on to the review."""
    draft = load_draft()
    if draft.needs_choice:
        return redirect(url_for("setup.choose"))
    lic = _license_of(draft)
    current = _current_identity()
    if request.method == "GET":
        return _details_shown(draft, lic, current)
    form = IdentityForm()
    if lic:
        # What the license says is signed: it is shown, never taken from the form.
        form.license_id.data = lic.license_id
        if lic.customer_id:
            form.customer_id.data = lic.customer_id
    if form.replace_instance_id.data or form.generate_instance_id.data:
        return _new_instance_id(form, draft, lic, current)
    if not form.validate():
        return _refused("details", form, _typed())
    try:
        customer_id = customer_id_for(
            lic.customer_id if lic else None,
            form.customer_id.data,
            "the Replicated SDK" if draft.source == Source.SDK else "the license",
        )
    except CustomerIdProblem as problem:
        form.customer_id.errors = [f"Customer ID {problem}."]
        return _refused("details", form, _typed())
    if form.instance_id.data != draft.instance_id:
        saved = current.instance_id if current else None
        draft.instance_id_origin = "saved" if form.instance_id.data == saved else "typed"
    draft.customer_id = customer_id
    draft.instance_id = form.instance_id.data
    draft.license_id = None if lic else form.license_id.data
    draft.details_done = True
    save_draft(draft)
    return redirect(url_for("setup.review"))


def _details_shown(draft: Draft, lic: License | None, current: SavedIdentity | None) -> Page:
    """The details step: the draft's answers, or what a refused form kept."""
    form = IdentityForm(formdata=None, data=prefill(draft, lic, current))
    echo = _echoed("details", form)
    for name, value in (echo.values if echo else {}).items():
        if name in form:
            form[name].data = value
    return _details_page(form, draft, lic, current, asking=bool(echo and echo.asking))


def _typed() -> Echo:
    """What the admin typed into the details form, to show again after the redirect."""
    return Echo({name: request.form.get(name, "") for name in TYPED_IDS})


TYPED_IDS = ("customer_id", "instance_id", "license_id")


def _new_instance_id(
    form: IdentityForm, draft: Draft, lic: License | None, current: SavedIdentity | None
) -> Response | Page:
    """Generate a new instance id: into an empty field at once, over a typed one only when the
    admin confirms; never over the one the SDK reported."""
    if draft.source == Source.SDK:
        form.instance_id.errors = ["The Replicated SDK reported the instance ID: keep it."]
        return _refused("details", form, _typed())
    # What was typed is kept (in the draft), whatever the admin answers.
    draft.customer_id = form.customer_id.data or None
    draft.license_id = None if lic else (form.license_id.data or None)
    if (form.instance_id.data or "").strip() and not form.replace_instance_id.data:
        draft.instance_id = form.instance_id.data
        save_draft(draft)
        keep_echo("details", Echo(_typed().values, asking=True))
        return redirect(url_for("setup.details"), code=303)
    draft.instance_id, draft.instance_id_origin = str(uuid.uuid4()), "generated"
    save_draft(draft)
    flash("A new instance ID was generated. Check the other fields, then review.", "info")
    return redirect(url_for("setup.details"))


def _parse_based_on(text: str | None) -> datetime | None:
    if text == "none":
        return None
    try:
        return datetime.fromisoformat(text or "")
    except (TypeError, ValueError):
        raise StartAgain("This review page was altered. Start again; nothing was saved.") from None


@bp.route("/review", methods=["GET", "POST"])
def review() -> Response | Page:
    """Show exactly what will be saved, and what changes; Save saves it."""
    draft = load_draft()
    if draft.needs_choice or not draft.details_done:
        return redirect(_next_step(draft))
    lic = _license_of(draft)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            return _save(draft, lic, form)
        except SaveRefused as refused:
            return _refused("review", form, Echo(problem=refused.message))
    echo = _echoed("review", form)
    problem = echo.problem if echo else None
    try:
        current, summary, _ = load_status(changes=0)
    except sa.exc.DBAPIError:
        current = summary = None
        problem = problem or (
            "The database is not answering right now, so the current values cannot be shown "
            "and saving will fail. Nothing has been saved."
        )
    form.based_on.data = (
        current.updated_at.isoformat() if current and current.updated_at else "none"
    )
    form.shown.data = draft.fingerprint
    after = identity_after(draft, lic, current)
    changes, warnings = describe_changes(current, summary, after, lic)
    change = license_change(current, summary, lic)
    return _draft_page(
        "setup/review.html",
        draft,
        lic,
        current,
        form=form,
        after=after,
        changes=changes,
        warnings=warnings,
        problem=problem,
        change=change,
        up_to_date=_up_to_date(change, current, after),
        expected_app=expected_app(current_app.config, read_watch()),
        reports=_reports_after_saving(
            lic or (summary if current and after["license_id"] == current.license_id else None)
        ),
    )


def _reports_after_saving(summary: Any) -> str | None:
    """What saving starts, in words: how this installation will report to Replicated with
    the identity (None when reporting is off)."""
    from ..reporting.rounds import plan_for
    from ..reporting.ways import Direct

    plan = plan_for(current_app.config, summary)
    if plan.mode == "off":
        return None
    if plan.mode == "offline":
        return (
            "Once saved, a report is kept here for the air-gapped usage file at each round; "
            "nothing leaves this installation."
        )
    problem = plan.problem
    if problem is None and isinstance(plan.way, Direct):
        problem = plan.way.endpoint_problem()
    if problem or plan.way is None:
        return f"Once saved, reports cannot be sent yet: {problem}."
    where = plan.way.where
    credential = ", with the license ID as its credential" if plan.mode == "direct" else ""
    return (
        f"Once saved, this installation reports to Replicated: {where}{credential}. The status "
        "page shows every value that is sent."
    )


def _up_to_date(change: Any, current: SavedIdentity | None, after: dict[str, Any]) -> bool:
    """The same license again, and the same ids: saving would change nothing."""
    if change is None or change.kind != "same" or current is None:
        return False
    return (current.customer_id, current.instance_id) == (
        after["customer_id"],
        after["instance_id"],
    )


def _save(draft: Draft, lic: License | None, form: ReviewForm) -> Response:
    """Save the draft as reviewed and go to the status page; SaveRefused says why not."""
    if form.shown.data != draft.fingerprint:
        raise SaveRefused(
            "These answers were changed in another tab or window since this review was "
            "shown. Nothing was saved. The review below shows them as they are now: save "
            "again if they are the right ones.",
            409,
        )
    current, summary, _ = load_status(changes=0)
    change = license_change(current, summary, lic)
    if change and change.kind == "older" and not form.allow_older.data:
        form.allow_older.errors = [f"Use this older license? {change.message} Tick it to save it."]
        raise SaveRefused(change.message + " Nothing was saved.", 422)
    if _up_to_date(change, current, identity_after(draft, lic, current)):
        discard_draft()
        flash(f"{change.message if change else ''} Nothing was saved.", "info")
        return redirect(url_for("status.page"))
    try:
        save_identity(
            draft.customer_id or "",
            draft.instance_id or "",
            lic.license_id if lic else kept_license_id(draft.license_id),
            summary=lic.summary(draft.source) if lic else None,
            actor=Actor(Source.WIZARD, who=admin_credential(), client_address=request.remote_addr),
            based_on=_parse_based_on(form.based_on.data),
        )
    except StaleIdentity as stale:
        now = stale.current
        raise SaveRefused(
            "Someone else saved the identity while this review was open"
            + (f" (customer {now.customer_id}, instance {now.instance_id})" if now else "")
            + ". Nothing was saved. The review below now compares with what is saved: save "
            "again if your values are still the right ones.",
            409,
        ) from None
    except InvalidValue as error:
        raise SaveRefused(f"{error} Nothing was saved.", 422) from None
    except sa.exc.DBAPIError as error:
        problem = database_problem(error)
        current_app.logger.warning("save failed (%s): %s", problem.kind, problem.detail)
        raise SaveRefused(
            f"{problem.message} Nothing was saved. Check the database, then press Save again.",
            problem.status,
        ) from None
    discard_draft()
    flash("Saved. This installation is identified.", "success")
    return redirect(url_for("status.page"))
