"""The linking buttons of My Learn profile (each a CSRF-protected POST)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SubmitField


class LinkForm(FlaskForm):
    """Starting a link is a state change (it creates the flow), so it is a CSRF-protected POST."""
    submit = SubmitField(_l("Associate"))


class RemoveLinkForm(FlaskForm):
    submit = SubmitField(_l("Remove access"))
