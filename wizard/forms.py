"""Every WTForms form of the wizard, shared by the pages and the API."""

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, ValidationError

from .admin_token import token_matches


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
