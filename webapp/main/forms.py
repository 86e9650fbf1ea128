from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField


class LinkForm(FlaskForm):
    """Starting a link is a state change (it creates the flow), so it is a CSRF-protected POST."""
    submit = SubmitField(_l("Associate"))


class RemoveLinkForm(FlaskForm):
    submit = SubmitField(_l("Remove access"))


class LanguageForm(FlaskForm):
    """The language switcher: saving the preference is a state change, so a CSRF-protected POST."""
    lang = HiddenField()
    next = HiddenField()
