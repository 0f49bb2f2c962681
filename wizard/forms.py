"""Every WTForms form of the wizard, shared by the pages and the API."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    Form,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, ValidationError

from .ids import InvalidId, clean_id

LICENSE_EXTENSIONS = (".yaml", ".yml")


class UnlockForm(FlaskForm):
    """Prove you are the admin by giving the admin token."""

    token = PasswordField(
        "Admin token",
        validators=[DataRequired("Enter the admin token.")],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autofocus": True},
    )
    # Whether it is the admin token is the view's check: it counts wrong tokens.


class ReplicatedId:
    """Validator: the shared rule for ids, with a message that names the field."""

    def __init__(self, required=True):
        self.required = required
        self.field_flags = {"required": True} if required else {}

    def __call__(self, form, field):
        blank = field.data is None or (isinstance(field.data, str) and not field.data.strip())
        if not self.required and blank:
            field.data = None
            return
        try:
            field.data = clean_id(field.data if field.data is not None else "")
        except InvalidId as error:
            raise ValidationError(f"{field.label.text} {error}.") from None


def _id_field(label, description, required=True):
    return StringField(
        label,
        validators=[ReplicatedId(required)],
        description=description,
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
    )


CUSTOMER_ID_HELP = (
    "Your vendor gives it with the license: licenses issued since late 2025 carry it as "
    "customerID. For an older license, ask your vendor for it."
)
INSTANCE_ID_HELP = (
    "The ID of this deployment. A license never holds it: the Replicated SDK running beside "
    "the application reports it. An install without the SDK can generate a new one."
)
LICENSE_ID_HELP = "In the license file it is spec.licenseID; your vendor can also tell you."


class UploadForm(FlaskForm):
    """Upload the license file."""

    license_file = FileField(
        "License file",
        validators=[FileRequired("Choose the license file (.yaml or .yml) to upload.")],
        description="The .yaml file the vendor sent, or downloaded from the vendor portal.",
        render_kw={"accept": ",".join(LICENSE_EXTENSIONS)},
    )

    def validate_license_file(self, field):
        name = (field.data.filename or "").lower()
        if not name.endswith(LICENSE_EXTENSIONS):
            raise ValidationError(
                "License file must be a .yaml or .yml file; "
                f"{field.data.filename or 'this file'} is not."
            )


class PasteForm(FlaskForm):
    """Paste the text of the license file."""

    license_text = TextAreaField(
        "License text",
        validators=[DataRequired("Paste the whole license file, from apiVersion to the end.")],
        description="Open the license .yaml file in a text editor, copy all of it, paste it here.",
        render_kw={
            "rows": 12,
            "spellcheck": "false",
            "autocapitalize": "off",
            "class_": "input mono",
        },
    )


class ChooseLicenseForm(FlaskForm):
    """Pick one license from a file that holds several."""

    choice = RadioField(
        "Which license?",
        coerce=int,
        validate_choice=True,
        validators=[InputRequired("Which license? Choose one of the licenses in the file.")],
    )


class IdentityFields:
    """The three ids, with the one rule, for the wizard's form and the API's alike."""

    customer_id = _id_field("Customer ID", CUSTOMER_ID_HELP)
    instance_id = _id_field("Instance ID", INSTANCE_ID_HELP)
    license_id = _id_field("License ID", LICENSE_ID_HELP, required=False)


class IdentityForm(IdentityFields, FlaskForm):
    """The ids to save, typed or completed from a license. Review is the primary action (and
    what Enter does); a new instance id is asked for apart, and never replaces one unasked."""

    review = SubmitField("Review")
    generate_instance_id = SubmitField("Generate a new instance ID")
    replace_instance_id = SubmitField("Replace it with a new ID")


class ReviewForm(FlaskForm):
    """Confirm what the review shows. `based_on` is when the identity shown as "now" was last
    saved, so a save made meanwhile by someone else is noticed; `shown` is which answers the
    page showed, so answers changed meanwhile in another tab are noticed too."""

    based_on = HiddenField()
    shown = HiddenField()  # the draft's fingerprint: what this page showed
    allow_older = BooleanField("Use this older license")
    save = SubmitField("Save")


class ApiForm(Form):
    """A form for JSON or query data: unknown fields are errors, so typos do not pass silently."""

    def __init__(self, data):
        self._raw = data
        # As form data (one value per field, kept as given): a JSON number or list for an id is
        # then refused by the field's own checks instead of slipping past them.
        super().__init__(formdata=MultiDict(list(data.items())))

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for name in sorted(set(self._raw) - set(self._fields)):
            self.form_errors.append(name)
            valid = False
        return valid

    def was_sent(self, name):
        """True when the request named this field at all (even as null)."""
        return name in self._raw

    @property
    def all_errors(self):
        """Errors by field, unknown fields included: the API's `errors` object."""
        errors = {name: list(messages) for name, messages in self.errors.items() if name}
        for name in self.form_errors:
            errors[name] = [f"{name} is not a field of this request."]
        return errors


class IdentityApiForm(IdentityFields, ApiForm):
    """PUT /api/v1/identity: the same ids as the wizard asks for."""


class LicenseImportApiForm(ApiForm):
    """POST /api/v1/license: what the license cannot say about this installation."""

    instance_id = _id_field("Instance ID", INSTANCE_ID_HELP)
    customer_id = _id_field("Customer ID", CUSTOMER_ID_HELP, required=False)
    license_number = StringField(
        "License number", description="Which license, when the file holds several (1, 2, ...)."
    )

    def validate_license_number(self, field):
        if field.data in (None, ""):
            field.data = None  # not said: fine while the file holds one license
            return
        text = str(field.data).strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6) or int(text) < 1:
            raise ValidationError("License number must be a whole number, 1 or more.")
        field.data = int(text)

    allow_older = StringField(
        "Allow older", description="true to save a license older than the saved one."
    )

    def validate_allow_older(self, field):
        text = str(field.data or "").strip().lower()
        if text not in ("", "true", "false", "1", "0", "yes", "no"):
            raise ValidationError("Allow older must be true or false.")
        field.data = text in ("true", "1", "yes")
