"""Every WTForms form of the wizard, shared by the pages and the API."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import MultiDict
from wtforms import (
    Form,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, ValidationError

from .admin_token import token_matches
from .ids import InvalidId, clean_id

LICENSE_EXTENSIONS = (".yaml", ".yml")


class UnlockForm(FlaskForm):
    """Prove you are the admin by giving the admin token."""

    token = PasswordField(
        "Admin token",
        validators=[DataRequired("Enter the admin token.")],
        description="Run setup-wizard token on the server: it names the file that holds it.",
        render_kw={"autocomplete": "off", "spellcheck": "false", "autofocus": True},
    )

    def validate_token(self, field):
        if not token_matches(field.data):
            raise ValidationError(
                "That is not the admin token. Copy it again from the file that "
                "setup-wizard token names."
            )


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
    "In the Replicated vendor portal, open Customers, then this customer: the customer ID is "
    "shown on the customer's page. Licenses issued before late 2025 do not carry it."
)
INSTANCE_ID_HELP = (
    "The id of this deployment. It is never in a license file: the Replicated SDK in the "
    "cluster reports it (GET /api/v1/app/info, instanceID), and the vendor portal lists it "
    "under the customer's instances. An install without the SDK can generate a new one."
)
LICENSE_ID_HELP = (
    "From the license file (spec.licenseID) or the customer's page in the vendor portal."
)


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

    draft = HiddenField()
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
    """The ids to save, typed or completed from a license."""

    draft = HiddenField()
    generate_instance_id = SubmitField("Generate a new instance ID")
    review = SubmitField("Review")


class ReviewForm(FlaskForm):
    """Confirm what the review shows; every answer travels sealed in `draft`."""

    draft = HiddenField()
    save = SubmitField("Save")
    edit = SubmitField("Change the IDs")


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
            field.data = 1
            return
        text = str(field.data).strip()
        if not text.isdigit() or int(text) < 1:
            raise ValidationError("License number must be a whole number, 1 or more.")
        field.data = int(text)
