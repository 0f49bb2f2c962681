"""The wizard: choose a source, upload or paste the license (or type the ids), review, save."""

import uuid

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from . import drafts, sdk
from .auth import admin_credential, admin_required
from .config import license_policy
from .forms import ChooseLicenseForm, IdentityForm, PasteForm, ReviewForm, UploadForm
from .identity import UNCHANGED, Actor, load_identity, load_license_summary, save_identity
from .licenses import LicenseError, document_label

bp = Blueprint("setup", __name__, url_prefix="/setup")


def _policy():
    return license_policy(current_app)


def _seal(answers):
    return drafts.seal(current_app.config["SECRET_KEY"], answers)


def _unseal(token):
    return drafts.unseal(current_app.config["SECRET_KEY"], token)


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


def _start_again(message):
    flash(message, "error")
    return redirect(url_for("setup.start"))


@bp.get("/")
@admin_required
def start():
    """Choose how to give the license details."""
    return render_template(
        "setup/start.html",
        identity=load_identity(),
        sdk_url=current_app.config["WIZARD_REPLICATED_SDK_URL"],
    )


@bp.get("/detect")
@admin_required
def detect():
    """Ask the Replicated SDK in the cluster; on any failure, say why and offer the other ways."""
    sdk_url = current_app.config["WIZARD_REPLICATED_SDK_URL"]
    if not sdk_url:
        return _start_again(
            "Detection needs WIZARD_REPLICATED_SDK_URL (the address of the "
            "Replicated SDK, e.g. http://replicated:3000)."
        )
    try:
        found = sdk.detect(sdk_url)
    except sdk.SdkError as error:
        current_app.logger.warning("detection failed: %s", error)
        flash(f"{error} You can upload, paste or type the details instead.", "error")
        return render_template("setup/start.html", identity=_current_identity(), sdk_url=sdk_url)
    answers = {"source": "sdk", "sdk": found.sealable(), "instance_id": found.instance_id}
    return _details_page(answers, found.as_license())


@bp.route("/upload", methods=["GET", "POST"])
@admin_required
def upload():
    """Upload the license file."""
    form = UploadForm()
    if form.validate_on_submit():
        data = form.license_file.data.read()
        page = _take_license(data, "upload", form.license_file)
        if page:
            return page
    return render_template("setup/upload.html", form=form)


@bp.route("/paste", methods=["GET", "POST"])
@admin_required
def paste():
    """Paste the text of the license file."""
    form = PasteForm()
    if form.validate_on_submit():
        page = _take_license(form.license_text.data, "paste", form.license_text)
        if page:
            return page
    return render_template("setup/paste.html", form=form)


def _take_license(data, source, field):
    """Verify a license file: the next page when it is good, else None with the field's error."""
    try:
        documents = _policy().documents(data)
    except LicenseError as error:
        field.errors.append(f"{field.label.text}: {error.message}")
        return None
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    if len(documents) > 1:
        form = ChooseLicenseForm(formdata=None, draft=_seal({"source": source, "text": text}))
        form.choice.choices = [(i, document_label(d)) for i, d in enumerate(documents)]
        return render_template("setup/choose.html", form=form)
    verdict = _policy().verify(text)
    if not verdict.valid:
        field.errors.append(f"{field.label.text}: {verdict.message}")
        return None
    return _details_page({"source": source, "text": text, "choice": 0}, verdict.license)


@bp.post("/choose")
@admin_required
def choose():
    """Take the license the admin picked from a file that holds several."""
    form = ChooseLicenseForm()
    try:
        answers = _unseal(form.draft.data)
        documents = _policy().documents(answers["text"])
    except (drafts.DraftExpired, LicenseError, KeyError):
        return _start_again("That upload has expired. Upload the license file again.")
    form.choice.choices = [(i, document_label(d)) for i, d in enumerate(documents)]
    if not form.validate():
        return render_template("setup/choose.html", form=form)
    verdict = _policy().verify(answers["text"], choice=form.choice.data)
    if not verdict.valid:
        form.choice.errors.append(f"Which license? {verdict.message}")
        return render_template("setup/choose.html", form=form)
    return _details_page({**answers, "choice": form.choice.data}, verdict.license)


@bp.get("/manual")
@admin_required
def manual():
    """Type the ids, without a license file."""
    return _details_page({"source": "manual"}, None)


def _details_page(answers, lic, form=None):
    """Ask for what the license does not say; values already saved are filled in."""
    current = _current_identity()
    if form is None:
        form = IdentityForm(
            formdata=None,
            customer_id=answers.get("customer_id") or (current.customer_id if current else None),
            instance_id=answers.get("instance_id") or (current.instance_id if current else None),
            license_id=answers.get("license_id"),
        )
    form.draft.data = _seal(answers)
    if lic:
        # What the license says is signed: it is shown, not asked for.
        form.license_id.data = lic.license_id
        if lic.customer_id:
            form.customer_id.data = lic.customer_id
    return render_template(
        "setup/details.html",
        form=form,
        license=lic,
        current=current,
        mock=answers.get("sdk", {}).get("integration_mode", False),
    )


def _license_of(answers):
    """Verify the license in the answers again (it may have expired since); None for typed ids."""
    if "sdk" in answers:
        return sdk.Detected.from_sealed(answers["sdk"]).as_license()
    if "text" not in answers:
        return None
    verdict = _policy().verify(answers["text"], choice=answers.get("choice", 0))
    if not verdict.valid:
        raise LicenseError(verdict.reason, verdict.message)
    return verdict.license


def _resume(draft):
    """The sealed answers and their license verified again; or a redirect to start again."""
    try:
        answers = _unseal(draft)
        return answers, _license_of(answers), None
    except drafts.DraftExpired:
        refusal = "This page was open too long. Start again; nothing was saved."
    except LicenseError as error:
        refusal = f"{error.message} Nothing was saved."
    return None, None, _start_again(refusal)


@bp.post("/details")
@admin_required
def details():
    """Check the ids, then show the review (or fill a new instance id)."""
    form = IdentityForm()
    answers, lic, refusal = _resume(form.draft.data)
    if refusal:
        return refusal
    if lic:
        form.license_id.data = lic.license_id
        if lic.customer_id:
            form.customer_id.data = lic.customer_id
    if form.generate_instance_id.data:
        form.instance_id.data = str(uuid.uuid4())
        return _details_page(answers, lic, form)
    if not form.validate():
        return _details_page(answers, lic, form)
    answers.update(
        customer_id=form.customer_id.data,
        instance_id=form.instance_id.data,
        license_id=form.license_id.data,
    )
    # Typing the ids again without the license id keeps the saved one (the review says so).
    answers["keep_license_id"] = lic is None and not form.license_id.data
    return _review_page(answers, lic)


def _review_page(answers, lic, error=None):
    try:
        current = load_identity()
        summary = load_license_summary() if current else None
    except sa.exc.DBAPIError:
        current = summary = None
        error = error or (
            "The database is not answering right now, so the current values "
            "cannot be shown and saving will fail. Nothing has been saved."
        )
    form = ReviewForm(formdata=None, draft=_seal(answers))
    keep = answers.get("keep_license_id")
    after = {
        "customer_id": answers["customer_id"],
        "instance_id": answers["instance_id"],
        "license_id": (current.license_id if current else None)
        if keep
        else answers.get("license_id"),
    }
    return render_template(
        "setup/review.html",
        form=form,
        after=after,
        license=lic,
        current=current,
        current_summary=summary,
        error=error,
        mock=answers.get("sdk", {}).get("integration_mode", False),
    )


@bp.post("/save")
@admin_required
def save():
    """Save exactly what the review showed, then show the status page."""
    form = ReviewForm()
    answers, lic, refusal = _resume(form.draft.data)
    if refusal:
        return refusal
    if form.edit.data or not form.validate():
        return _details_page(answers, lic)
    try:
        save_identity(
            answers["customer_id"],
            answers["instance_id"],
            UNCHANGED if answers.get("keep_license_id") else answers.get("license_id"),
            summary=lic.summary(answers["source"]) if lic else None,
            actor=Actor("wizard", who=admin_credential(), client_address=request.remote_addr),
        )
    except ValueError:
        return _details_page(answers, lic)  # sealed under an older rule: ask again
    except sa.exc.DBAPIError:
        current_app.logger.warning("save failed: the database did not answer")
        return _review_page(
            answers,
            lic,
            error="The database did not answer, so nothing was "
            "saved. Check the database, then press Save again.",
        )
    flash("Saved. This installation is identified.", "success")
    return redirect(url_for("status.page"))
