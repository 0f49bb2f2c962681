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
        description="Printed by `setup-wizard token`; it lives in the instance folder.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )

    def validate_token(self, field):
        if not token_matches(field.data):
            raise ValidationError(
                "That is not the admin token. Run `setup-wizard token` on the server to see "
                "where it is kept."
            )
