"""The linking buttons of My Learn profile (each a CSRF-protected POST)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField


class LinkForm(FlaskForm):
    """Starting a link is a state change (it creates the flow), so it is a CSRF-protected POST.

    ``use_university_email``: "Use email@address to associate my Microsoft Learning account" (the
    Learn and Partner University credentials are the same): the Learn sign-in is pre-filled with
    the linked Partner University account's email (``login_hint``)."""
    use_university_email = BooleanField()
    submit = SubmitField(_l("Associate"))


class RemoveLinkForm(FlaskForm):
    submit = SubmitField(_l("Remove access"))
