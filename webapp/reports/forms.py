from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField


class RefreshForm(FlaskForm):
    """The data refresh writes to the database, so it is a CSRF-protected POST."""
    back_to = HiddenField()
    submit = SubmitField(_l("Refresh data now"))
