"""Flask-WTF forms of the providers' pages (CSRF protected)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms import PasswordField
from wtforms import SelectField
from wtforms import StringField
from wtforms import SubmitField
from wtforms.validators import DataRequired
from wtforms.validators import Email
from wtforms.validators import EqualTo
from wtforms.validators import Length


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=255)])
    # No password rule at sign-in beyond a sanity cap (hashing megabytes costs CPU).
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Sign in"))
    cancel = SubmitField(_l("Cancel"))


class ConsentForm(FlaskForm):
    """The consent page: Allow, Cancel, or sign in with another account."""

    allow = SubmitField(_l("Allow"))
    cancel = SubmitField(_l("Cancel"))
    switch = SubmitField(_l("Use another account"))


class NewPasswordForm(FlaskForm):
    """A new password typed twice; the forms that create an account add their own fields."""

    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(),
            Length(min=8, message=_l("Password must be at least 8 characters.")),
            Length(max=1024),
        ],
    )
    confirm = PasswordField(
        _l("Confirm password"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("Passwords must match.")),
        ],
    )


class SignUpForm(NewPasswordForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=255)])
    display_name = StringField(
        _l("Display name"), validators=[DataRequired(), Length(min=1, max=120)]
    )
    submit = SubmitField(_l("Create account"))


class AttachMsaForm(NewPasswordForm):
    email = EmailField(
        _l("Personal Microsoft account email"),
        validators=[DataRequired(), Email(), Length(max=255)],
    )
    submit = SubmitField(_l("Add account"))


class CertificationProfileForm(FlaskForm):
    legal_name = StringField(
        _l("Legal name"), validators=[DataRequired(), Length(min=2, max=200)]
    )
    country = StringField(_l("Country/region"), validators=[DataRequired(), Length(max=80)])
    submit = SubmitField(_l("Save certification profile"))


class CompleteItemForm(FlaskForm):
    item = SelectField(_l("Item"), validators=[DataRequired()])
    submit = SubmitField(_l("Mark as completed"))


class SignOutForm(FlaskForm):
    submit = SubmitField(_l("Sign out"))


class RevokeConsentForm(FlaskForm):
    submit = SubmitField(_l("Revoke"))
